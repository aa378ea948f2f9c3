#pragma once
// The kernel table: one per backend (reference, cpu, cuda), filled by one explicit
// registration function per backend (no static self-registration, which silently drops
// kernels from static links). Kernels receive allocated, shape-checked tensors; each one
// dispatches on dtype itself and throws NotImplemented for dtypes it lacks. An entry left
// null means "this backend lacks the op" and the public op says so.
//
// Conventions: tensors are dense row-major; "beta" arguments follow BLAS (out = beta*out + result),
// which lets backward passes accumulate into the flat gradient buffer directly.
#include <array>
#include <cstdint>
#include <span>

#include "kaon/core/tensor.hpp"
#include "kaon/ops/conv_params.hpp"
#include "kaon/ops/kinds.hpp"
#include "kaon/ops/optimizer_steps.hpp"

namespace kaon::ops {

enum class Backend : std::uint8_t { Reference, Cpu, Cuda };
inline constexpr int kNumBackends = 3;
const char* backendName(Backend b);

struct KernelTable {
  // C[M,N] = alpha * op(A) * op(B) + beta * C; A, B, C 2-D.
  void (*gemm)(bool transA, bool transB, double alpha, const Tensor& a, const Tensor& b, double beta,
               const Tensor& c) = nullptr;

  // Convolution, x [N,C,*S], w [OC,C,*K], y [N,OC,*O] (bias is a separate op).
  void (*convForward)(const Tensor& x, const Tensor& w, const Tensor& y, const ConvGeometry& g) = nullptr;
  // Fused forward: y = act(conv(x, w) + b[oc]) with act/alpha as in activationForward; b may be
  // undefined. Optional: a backend without it (null) gets convForward + biasAdd + activationForward
  // from the public op, the same result in three passes.
  void (*convForwardFused)(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y, const ConvGeometry& g,
                           Activation act, double alpha) = nullptr;
  // dx = beta*dx + conv^T(dy, w)
  void (*convBackwardData)(const Tensor& dy, const Tensor& w, const Tensor& dx, double beta,
                           const ConvGeometry& g) = nullptr;
  // dw = beta*dw + dConv/dw(x, dy)
  void (*convBackwardFilter)(const Tensor& x, const Tensor& dy, const Tensor& dw, double beta,
                             const ConvGeometry& g) = nullptr;

  // y[n, c, ...] += b[c]  (in place; y is [N, C, ...], rank >= 2)
  void (*biasAdd)(const Tensor& y, const Tensor& b) = nullptr;
  // db = beta*db + sum over n and spatial of dy[n, c, ...]
  void (*biasBackward)(const Tensor& dy, const Tensor& db, double beta) = nullptr;

  // Element-wise activation: y = f(x); dx = beta*dx + f'(x) * dy (kernels may use x or y).
  void (*activationForward)(Activation kind, double alpha, const Tensor& x, const Tensor& y) = nullptr;
  void (*activationBackward)(Activation kind, double alpha, const Tensor& x, const Tensor& y,
                             const Tensor& dy, const Tensor& dx, double beta) = nullptr;

  // Softmax over axis 1 of a [N, C, inner...] tensor viewed as [N, C, inner].
  void (*softmaxForward)(const Tensor& x, const Tensor& y) = nullptr;
  void (*softmaxBackward)(const Tensor& y, const Tensor& dy, const Tensor& dx, double beta) = nullptr;

  // Pooling, NC[D]HW. For max pooling `argmax` (Int32, shape of y) records the flat spatial
  // index of the winner in each input plane; average pooling counts padding as zeros
  // (count_include_pad) only when includePad is set.
  void (*poolForward)(PoolKind kind, bool includePad, const Tensor& x, const Tensor& y, const Tensor& argmax,
                      const ConvGeometry& g) = nullptr;
  void (*poolBackward)(PoolKind kind, bool includePad, const Tensor& dy, const Tensor& argmax, const Tensor& dx,
                       double beta, const ConvGeometry& g) = nullptr;

  // out = alpha*a + beta*b (same shapes); out may alias a or b.
  void (*axpby)(double alpha, const Tensor& a, double beta, const Tensor& b, const Tensor& out) = nullptr;
  // out = a * b element-wise (same shapes)
  void (*mul)(const Tensor& a, const Tensor& b, const Tensor& out) = nullptr;
  // dst = scale * src converted to dst's dtype (same numel; any floating dtypes; round to nearest).
  void (*convert)(const Tensor& src, const Tensor& dst, double scale) = nullptr;
  // Sum of all elements, accumulated in double.
  double (*sumAll)(const Tensor& x) = nullptr;
  // Sum of squares of all elements, accumulated in double (gradient clipping).
  double (*sumSquares)(const Tensor& x) = nullptr;

  // Nearest-neighbour upsampling of x [N, C, *S] (1 to 3 spatial axes) by integer factors per spatial
  // axis, aligned like ConvGeometry (depth, height, width; 1 for the axes a 1-D/2-D tensor lacks):
  // y [N, C, *S*f], y[.., o] = x[.., o / f]. Backward: dx = beta*dx + sum of dy over each f-block.
  void (*upsampleForward)(const Tensor& x, const Tensor& y, std::array<int, 3> factors) = nullptr;
  void (*upsampleBackward)(const Tensor& dy, const Tensor& dx, double beta, std::array<int, 3> factors) = nullptr;

  // Zero padding of x [N, C, *S]: y [N, C, *O] holds x at offset `before` (aligned like the
  // factors above) and zeros elsewhere; O - S - before is the padding after. Backward crops:
  // dx = beta*dx + dy[.., before : before + S].
  void (*padForward)(const Tensor& x, const Tensor& y, std::array<int, 3> before) = nullptr;
  void (*padBackward)(const Tensor& dy, const Tensor& dx, double beta, std::array<int, 3> before) = nullptr;

  // Sum over the middle axis of x viewed as [outer, size, inner]: y [outer, inner] (accumulated in
  // double). Backward broadcasts: dx[o, r, i] = beta*dx[o, r, i] + dy[o, i].
  void (*sumMiddleForward)(const Tensor& x, const Tensor& y, std::int64_t outer, std::int64_t size,
                           std::int64_t inner) = nullptr;
  void (*sumMiddleBackward)(const Tensor& dy, const Tensor& dx, double beta, std::int64_t outer, std::int64_t size,
                            std::int64_t inner) = nullptr;

  // Axis copies, both tensors viewed as [outer, axisSize, inner] around `axis` (same rank, same
  // dims except on `axis`). copyIntoAxis (concat, slice backward): dst[:, offset : offset + src.dim(axis), :]
  // = src, the rest of dst untouched. copyFromAxis (split, slice): dst = beta*dst + src[:, offset :
  // offset + dst.dim(axis), :].
  void (*copyIntoAxis)(const Tensor& src, const Tensor& dst, int axis, std::int64_t offset) = nullptr;
  void (*copyFromAxis)(const Tensor& src, const Tensor& dst, int axis, std::int64_t offset, double beta) = nullptr;

  // Batch normalisation of x [N, C, ...] over all axes but 1; gamma, beta, running stats and the
  // saved stats are [C]. gamma/beta may be undefined (scale 1, shift 0).
  // training: batch statistics (biased variance normalises); saveMean/saveInvStd receive the mean and
  //   1/sqrt(var+eps); runningMean/runningVar, when defined, become momentum*running + (1-momentum)*batch
  //   (Keras convention) with the unbiased batch variance var*M/(M-1), M = N*prod(spatial) (var if M = 1).
  // eval: the running statistics normalise; saveMean/saveInvStd, when defined, receive the running mean
  //   and 1/sqrt(runningVar+eps) so backward can run in eval mode too.
  void (*batchNormForward)(bool training, double momentum, double eps, const Tensor& x, const Tensor& gamma,
                           const Tensor& beta, const Tensor& runningMean, const Tensor& runningVar,
                           const Tensor& y, const Tensor& saveMean, const Tensor& saveInvStd) = nullptr;
  // Gradients given the saved statistics of the forward pass, in the same mode (training: the
  // statistics depend on x; eval: they are constants). dx (may be undefined: skipped) is overwritten;
  // dgamma/dbeta (may be undefined) = betaAcc*old + gradient.
  void (*batchNormBackward)(bool training, const Tensor& x, const Tensor& dy, const Tensor& gamma,
                            const Tensor& saveMean, const Tensor& saveInvStd, const Tensor& dx, const Tensor& dgamma,
                            const Tensor& dbeta, double betaAcc) = nullptr;
  // Batch normalisation over several replicas (SyncBatchNorm), in steps around the caller's sums
  // across replicas. batchNormStatistics: stats [2C + 1] float64 = (sum of x per channel, sum of
  // x^2 per channel, M). batchNormForwardFromStatistics: the training forward with mean = S1/M and
  // (biased) var = max(0, S2/M - mean^2) from such stats (summed over replicas), running statistics
  // updated as in batchNormForward with that M. batchNormBackwardFromSums: the training dx given
  // sums [2, C] (x's dtype: sum dy, sum dy * xhat, summed over replicas; batchNormBackward's dbeta and
  // dgamma of each replica) and the forward's replica stats (their last element M counts the values
  // per channel over the replicas).
  void (*batchNormStatistics)(const Tensor& x, const Tensor& stats) = nullptr;
  void (*batchNormForwardFromStatistics)(double momentum, double eps, const Tensor& x, const Tensor& gamma,
                                         const Tensor& beta, const Tensor& runningMean, const Tensor& runningVar,
                                         const Tensor& stats, const Tensor& y, const Tensor& saveMean,
                                         const Tensor& saveInvStd) = nullptr;
  void (*batchNormBackwardFromSums)(const Tensor& x, const Tensor& dy, const Tensor& gamma, const Tensor& saveMean,
                                    const Tensor& saveInvStd, const Tensor& sums, const Tensor& stats,
                                    const Tensor& dx) = nullptr;

  // Inverted dropout with the counter-based generator of kaon/ops/counter_rng.hpp: element i (flat
  // index into x) is kept iff counterUniform(seed, offset + i) >= rate, so every backend draws the same
  // mask. mask (same dtype and shape as x) holds 0 or 1/(1-rate); y = x * mask. 0 <= rate < 1.
  void (*dropoutForward)(double rate, std::uint64_t seed, std::uint64_t offset, const Tensor& x, const Tensor& y,
                         const Tensor& mask) = nullptr;

  // Optimizer updates over flat buffers (one fused pass). State tensors are shaped like param.
  void (*sgdStep)(const SgdStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& velocity) = nullptr;
  void (*adamStep)(const AdamStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& m,
                   const Tensor& v) = nullptr;
  void (*rmspropStep)(const RmspropStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& meanSquare,
                      const Tensor& velocity) = nullptr;

  // Losses over a batch; per-sample values go to `loss` [N], the gradient w.r.t. the
  // prediction (already multiplied by weight[n] * gradScale) to `grad` when it is defined.
  // targets: class indices as float [N] for SoftmaxCrossEntropy, otherwise shaped like pred.
  void (*lossForwardBackward)(LossKind kind, const Tensor& pred, const Tensor& target, const Tensor& weight,
                              double gradScale, const Tensor& loss, const Tensor& grad) = nullptr;
};

KernelTable& kernelTable(Backend backend);

// Explicit registration, one function per backend. Called once by kernelTable().
void registerReferenceKernels(KernelTable& table);
void registerCpuKernels(KernelTable& table);
void registerCudaKernels(KernelTable& table);  // no-op stub when CUDA is not built

// Backend that runs ops on tensors of this device (respecting a ReferenceKernelsScope).
Backend backendFor(Device device);

// Looks up a kernel and throws NotImplemented naming the op and backend when absent.
template <class Fn>
Fn require(Fn KernelTable::*entry, const char* op, Device device) {
  Backend b = backendFor(device);
  Fn fn = kernelTable(b).*entry;
  if (!fn) throw NotImplemented(std::string(op) + " on the " + backendName(b) + " backend");
  return fn;
}

}  // namespace kaon::ops
