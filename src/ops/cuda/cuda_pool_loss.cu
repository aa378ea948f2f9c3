// Pooling (max/average, 1-3-D through depth/height of 1) and the five losses.
#include "cuda_common.cuh"
#include "cuda_launch.hpp"
#include "cuda_pool_2x2.cuh"

namespace kaon::ops::cuda {
namespace {

// Geometry in the index type I (int when every flat index fits: much cheaper division).
template <class I>
struct G3 {
  I in[3], out[3], kernel[3], stride[3], dilation[3], padBegin[3], padEnd[3];
  explicit G3(const Geom3& g) {
    for (int a = 0; a < 3; ++a) {
      in[a] = static_cast<I>(g.in[a]), out[a] = static_cast<I>(g.out[a]), kernel[a] = static_cast<I>(g.kernel[a]);
      stride[a] = g.stride[a], dilation[a] = g.dilation[a], padBegin[a] = g.padBegin[a], padEnd[a] = g.padEnd[a];
    }
  }
};

// Window taps of output (oz, oy, ox): inside the padded input (count_include_pad divisor) or
// inside the input itself.
template <class I>
__device__ inline I tapCount(const G3<I>& g, I oz, I oy, I ox, bool includePad) {
  I count = 0;
  for (I kz = 0; kz < g.kernel[0]; ++kz)
    for (I ky = 0; ky < g.kernel[1]; ++ky)
      for (I kx = 0; kx < g.kernel[2]; ++kx) {
        I iz = oz * g.stride[0] - g.padBegin[0] + kz * g.dilation[0];
        I iy = oy * g.stride[1] - g.padBegin[1] + ky * g.dilation[1];
        I ix = ox * g.stride[2] - g.padBegin[2] + kx * g.dilation[2];
        if (includePad) {
          if (iz < g.in[0] + g.padEnd[0] && iy < g.in[1] + g.padEnd[1] && ix < g.in[2] + g.padEnd[2]) ++count;
        } else if (iz >= 0 && iz < g.in[0] && iy >= 0 && iy < g.in[1] && ix >= 0 && ix < g.in[2]) {
          ++count;
        }
      }
  return count;
}

// One thread per output element of y [planes, out].
template <class T, class I>
__global__ void poolForwardKernel(PoolKind kind, bool includePad, const T* x, T* y, std::int32_t* argmax, G3<I> g,
                                  I n) {
  const I planeIn = g.in[0] * g.in[1] * g.in[2], planeOut = g.out[0] * g.out[1] * g.out[2];
  for (I k = blockIdx.x * blockDim.x + threadIdx.x; k < n; k += blockDim.x * gridDim.x) {
    const I p = k / planeOut, o = k - p * planeOut;
    const I oz = o / (g.out[1] * g.out[2]), oy = o / g.out[2] % g.out[1], ox = o % g.out[2];
    const T* xp = x + static_cast<std::int64_t>(p) * planeIn;
    Acc<T> best = 0;
    double acc = 0;
    I bestAt = -1, count = 0;
    for (I kz = 0; kz < g.kernel[0]; ++kz) {
      const I iz = oz * g.stride[0] - g.padBegin[0] + kz * g.dilation[0];
      if (iz < 0 || iz >= g.in[0]) continue;
      for (I ky = 0; ky < g.kernel[1]; ++ky) {
        const I iy = oy * g.stride[1] - g.padBegin[1] + ky * g.dilation[1];
        if (iy < 0 || iy >= g.in[1]) continue;
        for (I kx = 0; kx < g.kernel[2]; ++kx) {
          const I ix = ox * g.stride[2] - g.padBegin[2] + kx * g.dilation[2];
          if (ix < 0 || ix >= g.in[2]) continue;
          const I at = (iz * g.in[1] + iy) * g.in[2] + ix;
          const Acc<T> v = ld(xp[at]);
          ++count;
          acc += v;
          if (bestAt < 0 || v > best) best = v, bestAt = at;  // first maximum wins, as on the CPU
        }
      }
    }
    if (kind == PoolKind::Max) {
      y[k] = st<T>(bestAt < 0 ? static_cast<Acc<T>>(-INFINITY) : best);
      argmax[k] = static_cast<std::int32_t>(bestAt);
    } else {
      I div = includePad ? tapCount(g, oz, oy, ox, true) : count;
      y[k] = st<T>(acc / static_cast<double>(div));
    }
  }
}

// Gather: one thread per input element of dx [planes, in] sums the outputs whose window holds it
// (deterministic, no atomics).
template <class T, class I>
__global__ void poolBackwardKernel(PoolKind kind, bool includePad, const T* dy, const std::int32_t* argmax, T* dx,
                                   double beta, G3<I> g, I n) {
  const I planeIn = g.in[0] * g.in[1] * g.in[2], planeOut = g.out[0] * g.out[1] * g.out[2];
  for (I k = blockIdx.x * blockDim.x + threadIdx.x; k < n; k += blockDim.x * gridDim.x) {
    const I p = k / planeIn, at = k - p * planeIn;
    const I i0 = at / (g.in[1] * g.in[2]), i1 = at / g.in[2] % g.in[1], i2 = at % g.in[2];
    double acc = 0;
    for (I kz = 0; kz < g.kernel[0]; ++kz) {
      const I tz = i0 + g.padBegin[0] - kz * g.dilation[0];
      if (tz < 0 || tz % g.stride[0] != 0 || tz / g.stride[0] >= g.out[0]) continue;
      for (I ky = 0; ky < g.kernel[1]; ++ky) {
        const I ty = i1 + g.padBegin[1] - ky * g.dilation[1];
        if (ty < 0 || ty % g.stride[1] != 0 || ty / g.stride[1] >= g.out[1]) continue;
        for (I kx = 0; kx < g.kernel[2]; ++kx) {
          const I tx = i2 + g.padBegin[2] - kx * g.dilation[2];
          if (tx < 0 || tx % g.stride[2] != 0 || tx / g.stride[2] >= g.out[2]) continue;
          const I oz = tz / g.stride[0], oy = ty / g.stride[1], ox = tx / g.stride[2];
          const I o = p * planeOut + (oz * g.out[1] + oy) * g.out[2] + ox;
          if (kind == PoolKind::Max) {
            if (argmax[o] == at) acc += ld(dy[o]);
          } else {
            acc += static_cast<double>(ld(dy[o])) / static_cast<double>(tapCount(g, oz, oy, ox, includePad));
          }
        }
      }
    }
    dx[k] = st<T>(beta == 0.0 ? acc : acc + beta * ld(dx[k]));
  }
}

// Windows that tile the input exactly (kernel == stride, no padding or dilation, out * stride ==
// in): every input element lies in one window, so one thread per output writes its window's
// gradients (the winner's dy or 0; dy / taps for average) with no search and no zero pass.
template <class T, class I>
__global__ void poolBackwardTiledKernel(PoolKind kind, const T* dy, const std::int32_t* argmax, T* dx, double beta,
                                        G3<I> g, I n) {
  const I planeIn = g.in[0] * g.in[1] * g.in[2], planeOut = g.out[0] * g.out[1] * g.out[2];
  const double taps = static_cast<double>(g.kernel[0] * g.kernel[1] * g.kernel[2]);
  for (I k = blockIdx.x * blockDim.x + threadIdx.x; k < n; k += blockDim.x * gridDim.x) {
    const I p = k / planeOut, o = k - p * planeOut;
    const I oz = o / (g.out[1] * g.out[2]), oy = o / g.out[2] % g.out[1], ox = o % g.out[2];
    const double v = ld(dy[k]);
    const I winner = kind == PoolKind::Max ? static_cast<I>(argmax[k]) : -1;
    T* dp = dx + static_cast<std::int64_t>(p) * planeIn;
    for (I kz = 0; kz < g.kernel[0]; ++kz)
      for (I ky = 0; ky < g.kernel[1]; ++ky)
        for (I kx = 0; kx < g.kernel[2]; ++kx) {
          const I at = ((oz * g.stride[0] + kz) * g.in[1] + oy * g.stride[1] + ky) * g.in[2] + ox * g.stride[2] + kx;
          const double d = kind == PoolKind::Max ? (at == winner ? v : 0.0) : v / taps;
          dp[at] = st<T>(beta == 0.0 ? d : d + beta * ld(dp[at]));
        }
  }
}

bool tilesExactly(const Geom3& g) {
  for (int a = 0; a < 3; ++a)
    if (g.kernel[a] != g.stride[a] || g.padBegin[a] != 0 || g.padEnd[a] != 0 || g.dilation[a] != 1 ||
        g.out[a] * g.stride[a] != g.in[a])
      return false;
  return true;
}

constexpr std::int64_t kIntLimit = 2147483647LL / 2;  // headroom for k + stride in the loops

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
  if (n == 0) return;
  if (pool2x2Applies(kind, g, x, sizeof(T))) return maxPool2x2Forward(x, y, argmax, g, s);
  if (n < kIntLimit && g.planes * g.in[0] * g.in[1] * g.in[2] < kIntLimit)
    poolForwardKernel<T, int><<<gridFor(n), kThreads, 0, s>>>(kind, includePad, x, y, argmax, G3<int>(g), static_cast<int>(n));
  else
    poolForwardKernel<T, std::int64_t><<<gridFor(n), kThreads, 0, s>>>(kind, includePad, x, y, argmax, G3<std::int64_t>(g), n);
}
template <class T>
void poolBackward(PoolKind kind, bool includePad, const T* dy, const std::int32_t* argmax, T* dx, double beta,
                  const Geom3& g, cudaStream_t s) {
  i64 n = g.planes * g.in[0] * g.in[1] * g.in[2];
  if (n == 0) return;
  const i64 outputs = g.planes * g.out[0] * g.out[1] * g.out[2];
  if (pool2x2Applies(kind, g, dx, sizeof(T))) return maxPool2x2Backward(dy, argmax, dx, beta, g, s);
  if (tilesExactly(g) && n < kIntLimit) {
    poolBackwardTiledKernel<T, int><<<gridFor(outputs), kThreads, 0, s>>>(kind, dy, argmax, dx, beta, G3<int>(g),
                                                                           static_cast<int>(outputs));
    return;
  }
  if (n < kIntLimit && g.planes * g.out[0] * g.out[1] * g.out[2] < kIntLimit)
    poolBackwardKernel<T, int><<<gridFor(n), kThreads, 0, s>>>(kind, includePad, dy, argmax, dx, beta, G3<int>(g), static_cast<int>(n));
  else
    poolBackwardKernel<T, std::int64_t><<<gridFor(n), kThreads, 0, s>>>(kind, includePad, dy, argmax, dx, beta, G3<std::int64_t>(g), n);
}
template <class T>
void lossForwardBackward(LossKind kind, const T* pred, const T* target, const T* weight, double gradScale, T* loss,
                         T* grad, i64 N, i64 inner, cudaStream_t s) {
  if (N > 0) lossKernel<<<static_cast<unsigned>(N), kThreads, 0, s>>>(kind, pred, target, weight, gradScale, loss, grad, inner);
}

#define KAON_INSTANTIATE_POOL(T)                                                                                 \
  template void poolForward<T>(PoolKind, bool, const T*, T*, std::int32_t*, const Geom3&, cudaStream_t);         \
  template void poolBackward<T>(PoolKind, bool, const T*, const std::int32_t*, T*, double, const Geom3&,         \
                                cudaStream_t);
KAON_FOR_ALL_FLOAT_TYPES(KAON_INSTANTIATE_POOL)
#undef KAON_INSTANTIATE_POOL

// Losses: float and double only (a mixed-precision model's output is converted to fp32 first).
#define KAON_INSTANTIATE(T)                                                                                      \
  template void lossForwardBackward<T>(LossKind, const T*, const T*, const T*, double, T*, T*, i64, i64, cudaStream_t);
KAON_INSTANTIATE(float)
KAON_INSTANTIATE(double)
#undef KAON_INSTANTIATE

}  // namespace kaon::ops::cuda
