#pragma once
// Launchers of Kaon's own CUDA kernels, on raw device pointers. This header is shared by the
// .cu files (compiled by nvcc, which cannot parse fmt and therefore must not see Tensor) and by
// the .cpp wrappers that unpack tensors, check launches and register the kernels.
// Every launcher queues its work on `stream` and returns at once; instantiated for float and
// double. Layouts are dense row-major; shapes are named in the comments.
#include <cuda_runtime.h>

#include <cstdint>

#include "kaon/ops/kinds.hpp"

namespace kaon::ops::cuda {

using i64 = std::int64_t;

// Pooling / padding geometry on three spatial axes (depth, height, width), over `planes`
// independent [D, H, W] planes (N*C).
struct Geom3 {
  i64 planes = 0;
  i64 in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, kernel[3] = {1, 1, 1};
  int stride[3] = {1, 1, 1}, dilation[3] = {1, 1, 1}, padBegin[3] = {0, 0, 0}, padEnd[3] = {0, 0, 0};
};

// y [N, C, inner] += b[c];  db[c] = beta*db[c] + sum_{n,i} dy[n, c, i] (scratch: C *
// biasBackwardChunks(N, C) doubles); y = act(y + b[c]) in place (b may be null).
template <class T> void biasAdd(T* y, const T* b, i64 N, i64 C, i64 inner, cudaStream_t s);
i64 biasBackwardChunks(i64 N, i64 C);
template <class T>
void biasBackward(const T* dy, T* db, double beta, i64 N, i64 C, i64 inner, double* scratch, cudaStream_t s);
template <class T>
void biasActivation(T* y, const T* b, Activation kind, double alpha, i64 N, i64 C, i64 inner, cudaStream_t s);

// Element-wise over n values; dx = beta*dx + f'(x)*dy.
template <class T> void activationForward(Activation kind, double alpha, const T* x, T* y, i64 n, cudaStream_t s);
template <class T>
void activationBackward(Activation kind, double alpha, const T* x, const T* dy, T* dx, double beta, i64 n,
                        cudaStream_t s);

// Softmax over C of [N, C, inner].
template <class T> void softmaxForward(const T* x, T* y, i64 N, i64 C, i64 inner, cudaStream_t s);
template <class T>
void softmaxBackward(const T* y, const T* dy, T* dx, double beta, i64 N, i64 C, i64 inner, cudaStream_t s);

template <class T> void axpby(double alpha, const T* a, double beta, const T* b, T* out, i64 n, cudaStream_t s);
template <class T> void mul(const T* a, const T* b, T* out, i64 n, cudaStream_t s);
// dst[i] = scale * src[i] converted to D (round to nearest even); any pair of float types.
template <class S, class D> void convert(const S* src, D* dst, double scale, i64 n, cudaStream_t s);

// Sum (or sum of squares) of x[n] in double into *result (device memory); `scratch` holds
// kReduceBlocks doubles.
inline constexpr int kReduceBlocks = 256;
template <class T> void reduceSum(const T* x, i64 n, bool squares, double* scratch, double* result, cudaStream_t s);

// Zero padding of planes [in] into [out] with `before` leading zeros per axis (rest after);
// backward: dx = beta*dx + the interior of dy.
template <class T> void padForward(const T* x, T* y, const Geom3& g, const int before[3], cudaStream_t s);
template <class T> void padBackward(const T* dy, T* dx, double beta, const Geom3& g, const int before[3], cudaStream_t s);

// out [batch, cols, rows] = in [batch, rows, cols] transposed (+ beta * out); the channels-first
// <-> channels-last change (rows = C, cols = spatial size, or the reverse); any sizes.
template <class T> void transposeBatched(const T* in, T* out, i64 batch, i64 rows, i64 cols, double beta, cudaStream_t s);

// Pooling; argmax = flat index of the winner in its input plane (-1 if none), first wins ties.
template <class T>
void poolForward(PoolKind kind, bool includePad, const T* x, T* y, std::int32_t* argmax, const Geom3& g,
                 cudaStream_t s);
template <class T>
void poolBackward(PoolKind kind, bool includePad, const T* dy, const std::int32_t* argmax, T* dx, double beta,
                  const Geom3& g, cudaStream_t s);

// Losses over pred [N, inner]; target [N] (class indices) or [N, inner]; weight [N] or null;
// loss [N]; grad [N, inner] or null (scaled by weight[n]*gradScale).
template <class T>
void lossForwardBackward(LossKind kind, const T* pred, const T* target, const T* weight, double gradScale, T* loss,
                         T* grad, i64 N, i64 inner, cudaStream_t s);

// Inverted dropout over n elements: mask[i] = scale if counterUniform24(seed, offset + i) >=
// threshold else 0 (threshold = counterThreshold24(rate), scale = 1 / (1 - rate)); y = x * mask.
template <class T>
void dropoutForward(double scale, std::uint32_t threshold, std::uint64_t seed, std::uint64_t offset, const T* x, T* y,
                    T* mask, i64 n, cudaStream_t s);

// Fused optimizer steps over n elements (see kaon/ops/optimizer_steps.hpp for the formulas).
template <class T>
void sgdStep(double lr, double momentum, double weightDecay, bool nesterov, T* p, const T* g, T* v, i64 n,
             cudaStream_t s);
template <class T>
void adamStep(double lr, double beta1, double beta2, double eps, double weightDecay, bool decoupled, double bc1,
              double bc2, T* p, const T* g, T* m, T* v, i64 n, cudaStream_t s);
template <class T>
void rmspropStep(double lr, double rho, double eps, double momentum, double weightDecay, T* p, const T* g, T* sq,
                 T* buf, i64 n, cudaStream_t s);

}  // namespace kaon::ops::cuda

namespace kaon::ops::cuda {

// Nearest-neighbour upsampling of planes [in] to [in * f] (g.out = g.in * f); backward sums
// each f-block: dx = beta*dx + sum.
template <class T> void upsampleForward(const T* x, T* y, const Geom3& g, const int f[3], cudaStream_t s);
template <class T>
void upsampleBackward(const T* dy, T* dx, double beta, const Geom3& g, const int f[3], cudaStream_t s);

// [outer, srcAxis, inner] -> dst [outer, dstAxis, inner] at `offset` (concat), and the inverse
// dst = beta*dst + src[:, offset : offset + dstAxis, :] (split).
template <class T>
void copyIntoAxis(const T* src, T* dst, i64 outer, i64 srcAxis, i64 dstAxis, i64 inner, i64 offset, cudaStream_t s);
template <class T>
void copyFromAxis(const T* src, T* dst, i64 outer, i64 srcAxis, i64 dstAxis, i64 inner, i64 offset, double beta,
                  cudaStream_t s);

// Sum over the middle axis of x [outer, size, inner] into y [outer, inner] (one block per output,
// double accumulation, deterministic); backward broadcasts dx = beta*dx + dy[o, i].
template <class T> void sumMiddleForward(const T* x, T* y, i64 outer, i64 size, i64 inner, cudaStream_t s);
template <class T>
void sumMiddleBackward(const T* dy, T* dx, double beta, i64 outer, i64 size, i64 inner, cudaStream_t s);

// Batch norm over [N, C, inner] (cuda_batch_norm.cu: partial sums over slices of every channel,
// statistics in double). gamma/beta may be null (1 and 0); saveMean/saveInvStd may be null in
// inference. `scratch` holds batchNormScratch(N, C, inner) doubles.
i64 batchNormScratch(i64 N, i64 C, i64 inner);
template <class T>
void batchNormForward(bool training, double momentum, double eps, const T* x, const T* gamma, const T* beta,
                      T* runningMean, T* runningVar, T* y, T* saveMean, T* saveInvStd, i64 N, i64 C, i64 inner,
                      double* scratch, cudaStream_t s);
template <class T>
void batchNormBackward(bool training, const T* x, const T* dy, const T* gamma, const T* saveMean, const T* saveInvStd, T* dx,
                       T* dgamma, T* dbeta, double betaAcc, i64 N, i64 C, i64 inner, double* scratch, cudaStream_t s);
// Cross-replica batch norm (KernelTable::batchNormStatistics and partners): stats [2C + 1] double.
template <class T>
void batchNormStatistics(const T* x, double* stats, i64 N, i64 C, i64 inner, double* scratch, cudaStream_t s);
template <class T>
void batchNormForwardFromStatistics(double momentum, double eps, const T* x, const T* gamma, const T* beta,
                                    T* runningMean, T* runningVar, const double* stats, T* y, T* saveMean,
                                    T* saveInvStd, i64 N, i64 C, i64 inner, double* scratch, cudaStream_t s);
template <class T>
void batchNormBackwardFromSums(const T* x, const T* dy, const T* gamma, const T* saveMean, const T* saveInvStd,
                               const T* sums, const double* stats, T* dx, i64 N, i64 C, i64 inner, double* scratch,
                               cudaStream_t s);

}  // namespace kaon::ops::cuda
