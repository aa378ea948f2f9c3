// Pooling (max/average, 1-3-D through depth/height of 1) and the five losses.
#include "cuda_common.cuh"
#include "cuda_launch.hpp"

namespace kaon::ops::cuda {
namespace {

// Number of window taps inside the padded input (count_include_pad divisor).
__device__ inline std::int64_t padCount(const Geom3& g, std::int64_t oz, std::int64_t oy, std::int64_t ox) {
  std::int64_t count = 0;
  for (std::int64_t kz = 0; kz < g.kernel[0]; ++kz)
    for (std::int64_t ky = 0; ky < g.kernel[1]; ++ky)
      for (std::int64_t kx = 0; kx < g.kernel[2]; ++kx) {
        std::int64_t iz = oz * g.stride[0] - g.padBegin[0] + kz * g.dilation[0];
        std::int64_t iy = oy * g.stride[1] - g.padBegin[1] + ky * g.dilation[1];
        std::int64_t ix = ox * g.stride[2] - g.padBegin[2] + kx * g.dilation[2];
        if (iz < g.in[0] + g.padEnd[0] && iy < g.in[1] + g.padEnd[1] && ix < g.in[2] + g.padEnd[2]) ++count;
      }
  return count;
}

__device__ inline std::int64_t validCount(const Geom3& g, std::int64_t oz, std::int64_t oy, std::int64_t ox) {
  std::int64_t count = 0;
  for (std::int64_t kz = 0; kz < g.kernel[0]; ++kz)
    for (std::int64_t ky = 0; ky < g.kernel[1]; ++ky)
      for (std::int64_t kx = 0; kx < g.kernel[2]; ++kx) {
        std::int64_t iz = oz * g.stride[0] - g.padBegin[0] + kz * g.dilation[0];
        std::int64_t iy = oy * g.stride[1] - g.padBegin[1] + ky * g.dilation[1];
        std::int64_t ix = ox * g.stride[2] - g.padBegin[2] + kx * g.dilation[2];
        if (iz >= 0 && iz < g.in[0] && iy >= 0 && iy < g.in[1] && ix >= 0 && ix < g.in[2]) ++count;
      }
  return count;
}

// One thread per output element of y [planes, out].
template <class T>
__global__ void poolForwardKernel(PoolKind kind, bool includePad, const T* x, T* y, std::int32_t* argmax, Geom3 g,
                                  std::int64_t n) {
  const std::int64_t planeIn = g.in[0] * g.in[1] * g.in[2], planeOut = g.out[0] * g.out[1] * g.out[2];
  KAON_GRID_STRIDE(k, n) {
    std::int64_t p = k / planeOut, o = k % planeOut;
    std::int64_t oz = o / (g.out[1] * g.out[2]), oy = o / g.out[2] % g.out[1], ox = o % g.out[2];
    const T* xp = x + p * planeIn;
    double best = -INFINITY, acc = 0;
    std::int64_t bestAt = -1, count = 0;
    for (std::int64_t kz = 0; kz < g.kernel[0]; ++kz)
      for (std::int64_t ky = 0; ky < g.kernel[1]; ++ky)
        for (std::int64_t kx = 0; kx < g.kernel[2]; ++kx) {
          std::int64_t iz = oz * g.stride[0] - g.padBegin[0] + kz * g.dilation[0];
          std::int64_t iy = oy * g.stride[1] - g.padBegin[1] + ky * g.dilation[1];
          std::int64_t ix = ox * g.stride[2] - g.padBegin[2] + kx * g.dilation[2];
          if (iz < 0 || iz >= g.in[0] || iy < 0 || iy >= g.in[1] || ix < 0 || ix >= g.in[2]) continue;
          std::int64_t at = (iz * g.in[1] + iy) * g.in[2] + ix;
          double v = xp[at];
          ++count;
          acc += v;
          if (v > best || bestAt < 0) best = v, bestAt = at;
        }
    if (kind == PoolKind::Max) {
      y[k] = static_cast<T>(best);
      argmax[k] = static_cast<std::int32_t>(bestAt);
    } else {
      std::int64_t div = includePad ? padCount(g, oz, oy, ox) : count;
      y[k] = static_cast<T>(acc / static_cast<double>(div));
    }
  }
}

// Gather: one thread per input element of dx [planes, in] sums the outputs whose window holds it
// (deterministic, no atomics).
template <class T>
__global__ void poolBackwardKernel(PoolKind kind, bool includePad, const T* dy, const std::int32_t* argmax, T* dx,
                                   double beta, Geom3 g, std::int64_t n) {
  const std::int64_t planeIn = g.in[0] * g.in[1] * g.in[2], planeOut = g.out[0] * g.out[1] * g.out[2];
  KAON_GRID_STRIDE(k, n) {
    std::int64_t p = k / planeIn, at = k % planeIn;
    std::int64_t i[3] = {at / (g.in[1] * g.in[2]), at / g.in[2] % g.in[1], at % g.in[2]};
    double acc = 0;
    for (std::int64_t kz = 0; kz < g.kernel[0]; ++kz) {
      std::int64_t tz = i[0] + g.padBegin[0] - kz * g.dilation[0];
      if (tz < 0 || tz % g.stride[0] != 0 || tz / g.stride[0] >= g.out[0]) continue;
      for (std::int64_t ky = 0; ky < g.kernel[1]; ++ky) {
        std::int64_t ty = i[1] + g.padBegin[1] - ky * g.dilation[1];
        if (ty < 0 || ty % g.stride[1] != 0 || ty / g.stride[1] >= g.out[1]) continue;
        for (std::int64_t kx = 0; kx < g.kernel[2]; ++kx) {
          std::int64_t tx = i[2] + g.padBegin[2] - kx * g.dilation[2];
          if (tx < 0 || tx % g.stride[2] != 0 || tx / g.stride[2] >= g.out[2]) continue;
          std::int64_t oz = tz / g.stride[0], oy = ty / g.stride[1], ox = tx / g.stride[2];
          std::int64_t o = p * planeOut + (oz * g.out[1] + oy) * g.out[2] + ox;
          if (kind == PoolKind::Max) {
            if (argmax[o] == at) acc += dy[o];
          } else {
            std::int64_t div = includePad ? padCount(g, oz, oy, ox) : validCount(g, oz, oy, ox);
            acc += static_cast<double>(dy[o]) / static_cast<double>(div);
          }
        }
      }
    }
    dx[k] = static_cast<T>(beta == 0.0 ? acc : acc + beta * dx[k]);
  }
}

// One block per sample.
template <class T>
__global__ void lossKernel(LossKind kind, const T* pred, const T* target, const T* weight, double gradScale, T* loss,
                           T* grad, std::int64_t inner) {
  const std::int64_t n = blockIdx.x;
  const T* p = pred + n * inner;
  T* g = grad ? grad + n * inner : nullptr;
  const double w = (weight ? static_cast<double>(weight[n]) : 1.0) * gradScale;
  double l = 0;
  if (kind == LossKind::SoftmaxCrossEntropy) {
    const std::int64_t cls = static_cast<std::int64_t>(target[n]);
    double mx = -INFINITY;
    for (std::int64_t c = threadIdx.x; c < inner; c += blockDim.x) mx = fmax(mx, static_cast<double>(p[c]));
    mx = blockMax(mx);
    double total = 0;
    for (std::int64_t c = threadIdx.x; c < inner; c += blockDim.x) total += exp(p[c] - mx);
    total = blockSum(total);
    l = log(total) + mx - static_cast<double>(p[cls]);
    if (g)
      for (std::int64_t c = threadIdx.x; c < inner; c += blockDim.x)
        g[c] = static_cast<T>(w * (exp(p[c] - mx) / total - (c == cls ? 1.0 : 0.0)));
  } else {
    const T* t = target + n * inner;
    double part = 0;
    for (std::int64_t i = threadIdx.x; i < inner; i += blockDim.x) {
      double x = p[i], y = t[i], li = 0, gi = 0;
      switch (kind) {
        case LossKind::BinaryCrossEntropyLogits:
          li = fmax(x, 0.0) - x * y + log1p(exp(-fabs(x)));
          gi = 1.0 / (1.0 + exp(-x)) - y;
          break;
        case LossKind::MeanSquaredError:
          li = (x - y) * (x - y);
          gi = 2 * (x - y);
          break;
        case LossKind::MeanAbsoluteError:
          li = fabs(x - y);
          gi = (x > y) - (x < y);
          break;
        case LossKind::MeanAbsolutePercentageError: {
          double denom = fmax(fabs(y), 1e-7);
          li = 100.0 * fabs(x - y) / denom;
          gi = 100.0 * ((x > y) - (x < y)) / denom;
          break;
        }
        case LossKind::SoftmaxCrossEntropy: break;
      }
      part += li;
      if (g) g[i] = static_cast<T>(w * gi / static_cast<double>(inner));
    }
    l = blockSum(part) / static_cast<double>(inner);
  }
  if (threadIdx.x == 0) loss[n] = static_cast<T>(l);
}

}  // namespace

template <class T>
void poolForward(PoolKind kind, bool includePad, const T* x, T* y, std::int32_t* argmax, const Geom3& g,
                 cudaStream_t s) {
  i64 n = g.planes * g.out[0] * g.out[1] * g.out[2];
  if (n > 0) poolForwardKernel<<<gridFor(n), kThreads, 0, s>>>(kind, includePad, x, y, argmax, g, n);
}
template <class T>
void poolBackward(PoolKind kind, bool includePad, const T* dy, const std::int32_t* argmax, T* dx, double beta,
                  const Geom3& g, cudaStream_t s) {
  i64 n = g.planes * g.in[0] * g.in[1] * g.in[2];
  if (n > 0) poolBackwardKernel<<<gridFor(n), kThreads, 0, s>>>(kind, includePad, dy, argmax, dx, beta, g, n);
}
template <class T>
void lossForwardBackward(LossKind kind, const T* pred, const T* target, const T* weight, double gradScale, T* loss,
                         T* grad, i64 N, i64 inner, cudaStream_t s) {
  if (N > 0) lossKernel<<<static_cast<unsigned>(N), kThreads, 0, s>>>(kind, pred, target, weight, gradScale, loss, grad, inner);
}

#define KAON_INSTANTIATE(T)                                                                                      \
  template void poolForward<T>(PoolKind, bool, const T*, T*, std::int32_t*, const Geom3&, cudaStream_t);         \
  template void poolBackward<T>(PoolKind, bool, const T*, const std::int32_t*, T*, double, const Geom3&,         \
                                cudaStream_t);                                                                   \
  template void lossForwardBackward<T>(LossKind, const T*, const T*, const T*, double, T*, T*, i64, i64, cudaStream_t);
KAON_INSTANTIATE(float)
KAON_INSTANTIATE(double)
#undef KAON_INSTANTIATE

}  // namespace kaon::ops::cuda
