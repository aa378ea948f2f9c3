#pragma once
// Batch normalisation over all axes but 1 (channels): x [N, C], [N, C, L], [N, C, H, W] or
// [N, C, D, H, W]; every per-channel tensor is [C]. M = N * prod(spatial) values per channel.
#include "kaon/core/tensor.hpp"

namespace kaon::ops {

struct BatchNormResult {
  Tensor y;           // shaped like x
  Tensor saveMean;    // [C] the mean used (batch or running), for backward
  Tensor saveInvStd;  // [C] 1 / sqrt(var + eps) used, for backward
};

// y = gamma * (x - mean) / sqrt(var + eps) + beta; gamma/beta undefined mean 1 and 0.
// training: mean/var are the batch statistics (biased variance) and the running statistics, when
//   defined, are updated in place: running = momentum * running + (1 - momentum) * batch, with the
//   unbiased batch variance var * M / (M - 1) (Keras' momentum convention, e.g. 0.99).
// eval: the running statistics (required) normalise and are left unchanged.
BatchNormResult batchNorm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& runningMean,
                          const Tensor& runningVar, bool training, double momentum, double eps);

// Gradients for a forward pass in the same mode with its saved statistics. dgamma/dbeta, when
// defined, accumulate: d = betaAcc * d + gradient. Returns dx when wantDx, else an undefined tensor.
Tensor batchNormBackward(bool training, const Tensor& x, const Tensor& dy, const Tensor& gamma,
                         const Tensor& saveMean, const Tensor& saveInvStd, const Tensor& dgamma, const Tensor& dbeta,
                         double betaAcc, bool wantDx = true);

// Batch normalisation whose statistics span several replicas (SyncBatchNorm). The caller sums the
// returned statistics across replicas between the calls (an allreduce), in this order:
//   stats = batchNormStatistics(x);           // [2C + 1] float64 on x's device: sum x, sum x^2, M
//   (sum stats over replicas)
//   r = batchNormFromStatistics(x, ..., stats);  // training forward with the replicas' mean/var
//   sums = batchNormBackwardSums(x, dy, r...)    // [2, C] in x's dtype: sum dy, sum dy * xhat
//   (add them to dbeta/dgamma, then sum them over replicas)
//   dx = batchNormBackwardFromSums(x, dy, gamma, r..., sums, stats)   // M from stats
// With one replica this is batchNorm/batchNormBackward in training mode, up to rounding (the
// variance comes from the sum of squares in double instead of a second centred pass).
Tensor batchNormStatistics(const Tensor& x);
BatchNormResult batchNormFromStatistics(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                        const Tensor& runningMean, const Tensor& runningVar, const Tensor& stats,
                                        double momentum, double eps);
Tensor batchNormBackwardSums(const Tensor& x, const Tensor& dy, const Tensor& saveMean, const Tensor& saveInvStd);
Tensor batchNormBackwardFromSums(const Tensor& x, const Tensor& dy, const Tensor& gamma, const Tensor& saveMean,
                                 const Tensor& saveInvStd, const Tensor& sums, const Tensor& stats);

}  // namespace kaon::ops
