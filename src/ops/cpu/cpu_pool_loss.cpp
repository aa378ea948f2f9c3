// Pooling (parallel over N*C planes) and losses (the reference math, parallel over samples).
#include <limits>

#include "../reference/reference_kernels.hpp"
#include "cpu_kernels.hpp"
#include "kaon/core/runtime.hpp"

namespace kaon::ops::cpu {
namespace {

// Valid tap range [lo, hi) of kernel offsets on one axis for output position o.
struct TapRange {
  std::int64_t lo, hi, start;  // start: input coordinate of tap 0
};
TapRange taps(const ConvGeometry& g, int axis, std::int64_t o) {
  std::int64_t start = o * g.stride[axis] - g.padBegin[axis];
  std::int64_t d = g.dilation[axis];
  std::int64_t lo = start >= 0 ? 0 : (-start + d - 1) / d;
  std::int64_t hi = std::min<std::int64_t>(g.kernel[axis], (g.in[axis] - start + d - 1) / d);
  return {lo, std::max(lo, hi), start};
}
// Taps inside the padded extent (for count_include_pad).
std::int64_t paddedTaps(const ConvGeometry& g, int axis, std::int64_t o) {
  std::int64_t start = o * g.stride[axis] - g.padBegin[axis];
  std::int64_t limit = g.in[axis] + g.padEnd[axis];
  std::int64_t d = g.dilation[axis];
  return std::min<std::int64_t>(g.kernel[axis], (limit - start + d - 1) / d);
}

template <class F>
void forEachWindow(const ConvGeometry& g, F&& f) {
  for (std::int64_t oz = 0; oz < g.out[0]; ++oz) {
    TapRange z = taps(g, 0, oz);
    for (std::int64_t oy = 0; oy < g.out[1]; ++oy) {
      TapRange y = taps(g, 1, oy);
      for (std::int64_t ox = 0; ox < g.out[2]; ++ox) {
        TapRange x = taps(g, 2, ox);
        std::int64_t o = (oz * g.out[1] + oy) * g.out[2] + ox;
        std::int64_t padCount = paddedTaps(g, 0, oz) * paddedTaps(g, 1, oy) * paddedTaps(g, 2, ox);
        f(o, z, y, x, padCount);
      }
    }
  }
}

// Max pooling with a 2x2 window, stride 2, no padding or dilation, on a 2-D (or depth-1) plane:
// the CNN case, without the generic per-window tap arithmetic. Same tie and NaN rule as the
// generic loop: the first maximum in row-major window order wins.
bool isMaxPool2x2(PoolKind kind, const ConvGeometry& g) {
  return kind == PoolKind::Max && g.in[0] == 1 && g.kernel[0] == 1 && g.kernel[1] == 2 && g.kernel[2] == 2 &&
         g.stride[1] == 2 && g.stride[2] == 2 && g.dilation[1] == 1 && g.dilation[2] == 1 && g.padBegin[1] == 0 &&
         g.padBegin[2] == 0 && g.out[1] == g.in[1] / 2 && g.out[2] == g.in[2] / 2;
}

template <class T>
void maxPool2x2Plane(const T* X, T* Y, std::int32_t* A, std::int64_t H, std::int64_t W, std::int64_t OH,
                     std::int64_t OW) {
  for (std::int64_t oy = 0; oy < OH; ++oy) {
    const T* r0 = X + 2 * oy * W;
    const T* r1 = r0 + W;
    const std::int32_t base = static_cast<std::int32_t>(2 * oy * W);
    for (std::int64_t ox = 0; ox < OW; ++ox) {
      const std::int64_t x0 = 2 * ox;
      T best = r0[x0];
      std::int32_t at = base + static_cast<std::int32_t>(x0);
      if (r0[x0 + 1] > best) best = r0[x0 + 1], at = base + static_cast<std::int32_t>(x0 + 1);
      if (r1[x0] > best) best = r1[x0], at = base + static_cast<std::int32_t>(W + x0);
      if (r1[x0 + 1] > best) best = r1[x0 + 1], at = base + static_cast<std::int32_t>(W + x0 + 1);
      Y[oy * OW + ox] = best;
      A[oy * OW + ox] = at;
    }
  }
}

}  // namespace

void poolForward(PoolKind kind, bool includePad, const Tensor& x, const Tensor& y, const Tensor& argmax,
                 const ConvGeometry& g) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const std::int64_t planeIn = g.inSpatial(), planeOut = g.outSpatial(), planes = g.batch * g.inChannels;
    const std::int64_t H = g.in[1], W = g.in[2];
    if (isMaxPool2x2(kind, g)) {
#pragma omp parallel for schedule(static) num_threads(numThreads())
      for (std::int64_t p = 0; p < planes; ++p)
        maxPool2x2Plane(x.data<T>() + p * planeIn, y.data<T>() + p * planeOut,
                        argmax.data<std::int32_t>() + p * planeOut, H, W, g.out[1], g.out[2]);
      return;
    }
#pragma omp parallel for schedule(static) num_threads(numThreads())
    for (std::int64_t p = 0; p < planes; ++p) {
      const T* X = x.data<T>() + p * planeIn;
      T* Y = y.data<T>() + p * planeOut;
      std::int32_t* A = kind == PoolKind::Max ? argmax.data<std::int32_t>() + p * planeOut : nullptr;
      forEachWindow(g, [&](std::int64_t o, const TapRange& z, const TapRange& yr, const TapRange& xr,
                           std::int64_t padCount) {
        T best = -std::numeric_limits<T>::infinity(), acc = 0;
        std::int64_t bestAt = -1;
        for (std::int64_t kz = z.lo; kz < z.hi; ++kz)
          for (std::int64_t ky = yr.lo; ky < yr.hi; ++ky) {
            std::int64_t rowAt = ((z.start + kz * g.dilation[0]) * H + yr.start + ky * g.dilation[1]) * W;
            for (std::int64_t kx = xr.lo; kx < xr.hi; ++kx) {
              std::int64_t at = rowAt + xr.start + kx * g.dilation[2];
              T v = X[at];
              acc += v;
              if (v > best || bestAt < 0) best = v, bestAt = at;
            }
          }
        if (A) {
          Y[o] = best;
          A[o] = static_cast<std::int32_t>(bestAt);
        } else {
          std::int64_t count = includePad ? padCount : (z.hi - z.lo) * (yr.hi - yr.lo) * (xr.hi - xr.lo);
          Y[o] = acc / static_cast<T>(count);
        }
      });
    }
  });
}

void poolBackward(PoolKind kind, bool includePad, const Tensor& dy, const Tensor& argmax, const Tensor& dx,
                  double beta, const ConvGeometry& g) {
  dispatchFloat(dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const std::int64_t planeIn = g.inSpatial(), planeOut = g.outSpatial(), planes = g.batch * g.inChannels;
    const std::int64_t H = g.in[1], W = g.in[2];
#pragma omp parallel for schedule(static) num_threads(numThreads())
    for (std::int64_t p = 0; p < planes; ++p) {
      const T* DY = dy.data<T>() + p * planeOut;
      T* DX = dx.data<T>() + p * planeIn;
      if (beta == 0.0) std::fill_n(DX, planeIn, T(0));
      else if (beta != 1.0) for (std::int64_t i = 0; i < planeIn; ++i) DX[i] *= static_cast<T>(beta);
      if (kind == PoolKind::Max) {
        const std::int32_t* A = argmax.data<std::int32_t>() + p * planeOut;
        for (std::int64_t o = 0; o < planeOut; ++o)
          if (A[o] >= 0) DX[A[o]] += DY[o];  // -1: window entirely in padding
        continue;
      }
      forEachWindow(g, [&](std::int64_t o, const TapRange& z, const TapRange& yr, const TapRange& xr,
                           std::int64_t padCount) {
        std::int64_t count = includePad ? padCount : (z.hi - z.lo) * (yr.hi - yr.lo) * (xr.hi - xr.lo);
        T share = DY[o] / static_cast<T>(count);
        for (std::int64_t kz = z.lo; kz < z.hi; ++kz)
          for (std::int64_t ky = yr.lo; ky < yr.hi; ++ky) {
            std::int64_t rowAt = ((z.start + kz * g.dilation[0]) * H + yr.start + ky * g.dilation[1]) * W;
            for (std::int64_t kx = xr.lo; kx < xr.hi; ++kx) DX[rowAt + xr.start + kx * g.dilation[2]] += share;
          }
      });
    }
  });
}

void lossForwardBackward(LossKind kind, const Tensor& pred, const Tensor& target, const Tensor& weight,
                         double gradScale, const Tensor& loss, const Tensor& grad) {
  // Losses are O(N*C) next to an O(N*C*K) model: the reference math, split over threads, is enough.
  const std::int64_t N = pred.dim(0);
  const int chunks = static_cast<int>(std::min<std::int64_t>(numThreads(), std::max<std::int64_t>(1, N / 64)));
#pragma omp parallel for schedule(static) num_threads(chunks)
  for (int c = 0; c < chunks; ++c) {
    std::int64_t lo = N * c / chunks, hi = N * (c + 1) / chunks;
    reference::lossForwardBackward(kind, pred.slice(lo, hi), target.slice(lo, hi),
                                   weight.defined() ? weight.slice(lo, hi) : Tensor(), gradScale,
                                   loss.slice(lo, hi), grad.defined() ? grad.slice(lo, hi) : Tensor());
  }
}

}  // namespace kaon::ops::cpu
