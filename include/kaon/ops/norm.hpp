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

}  // namespace kaon::ops
