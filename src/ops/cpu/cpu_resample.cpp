// Upsampling, padding and axis copies on the CPU: row-wise (contiguous innermost axis) loops,
// memcpy/fill for whole rows, OpenMP across rows once a tensor is large enough to pay for it.
#include <algorithm>
#include <cstring>

#include "../layout.hpp"
#include "cpu_kernels.hpp"
#include "kaon/core/runtime.hpp"

namespace kaon::ops::cpu {
namespace {

constexpr std::int64_t kParallelThreshold = 1 << 15;  // elements

// Row r of a [planes, D, H] grid of rows -> (plane, z, y).
struct RowIndex {
  std::int64_t p, z, y;
};
RowIndex rowIndex(const detail::Planes& g, std::int64_t r) { return {r / (g.s[0] * g.s[1]), r / g.s[1] % g.s[0], r % g.s[1]}; }
std::int64_t rowStart(const detail::Planes& g, std::int64_t p, std::int64_t z, std::int64_t y) {
  return ((p * g.s[0] + z) * g.s[1] + y) * g.s[2];
}

// out[0:n] = v + beta*out (beta 0 overwrites, so stale NaNs in out do not leak).
template <class T>
void storeScaled(T* out, const T* v, std::int64_t n, double beta) {
  if (beta == 0.0) {
    std::memcpy(out, v, static_cast<std::size_t>(n) * sizeof(T));
    return;
  }
  const T b = static_cast<T>(beta);
  for (std::int64_t i = 0; i < n; ++i) out[i] = v[i] + b * out[i];
}

}  // namespace

void upsampleForward(const Tensor& x, const Tensor& y, std::array<int, 3> f) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    T* Y = y.data<T>();
    const auto gx = detail::planesOf(x.shape()), gy = detail::planesOf(y.shape());
    const std::int64_t rows = gx.rows(), W = gx.s[2], OW = gy.s[2];
    // One input row fills f[0]*f[1] output rows: expand it once along W, then copy it.
#pragma omp parallel for schedule(static) num_threads(numThreads()) if (y.numel() > kParallelThreshold)
    for (std::int64_t r = 0; r < rows; ++r) {
      const RowIndex in = rowIndex(gx, r);
      const T* src = X + r * W;
      T* first = Y + rowStart(gy, in.p, in.z * f[0], in.y * f[1]);
      if (f[2] == 1) {
        std::memcpy(first, src, static_cast<std::size_t>(W) * sizeof(T));
      } else {
        for (std::int64_t ix = 0; ix < W; ++ix)
          for (int k = 0; k < f[2]; ++k) first[ix * f[2] + k] = src[ix];
      }
      for (int fz = 0; fz < f[0]; ++fz)
        for (int fy = 0; fy < f[1]; ++fy)
          if (fz != 0 || fy != 0)
            std::memcpy(Y + rowStart(gy, in.p, in.z * f[0] + fz, in.y * f[1] + fy), first,
                        static_cast<std::size_t>(OW) * sizeof(T));
    }
  });
}

void upsampleBackward(const Tensor& dy, const Tensor& dx, double beta, std::array<int, 3> f) {
  dispatchFloat(dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* DY = dy.data<T>();
    T* DX = dx.data<T>();
    const auto gx = detail::planesOf(dx.shape()), gy = detail::planesOf(dy.shape());
    const std::int64_t rows = gx.rows(), W = gx.s[2];
    const T b = static_cast<T>(beta);
    // Each input row gathers its f[0]*f[1] output rows: no two threads write the same element.
#pragma omp parallel for schedule(static) num_threads(numThreads()) if (dy.numel() > kParallelThreshold)
    for (std::int64_t r = 0; r < rows; ++r) {
      const RowIndex in = rowIndex(gx, r);
      T* out = DX + r * W;
      if (beta == 0.0) std::fill_n(out, W, T(0));
      else for (std::int64_t ix = 0; ix < W; ++ix) out[ix] *= b;
      for (int fz = 0; fz < f[0]; ++fz)
        for (int fy = 0; fy < f[1]; ++fy) {
          const T* g = DY + rowStart(gy, in.p, in.z * f[0] + fz, in.y * f[1] + fy);
          if (f[2] == 1) {
            for (std::int64_t ix = 0; ix < W; ++ix) out[ix] += g[ix];
          } else {
            for (std::int64_t ix = 0; ix < W; ++ix) {
              T s = 0;
              for (int k = 0; k < f[2]; ++k) s += g[ix * f[2] + k];
              out[ix] += s;
            }
          }
        }
    }
  });
}

void padForward(const Tensor& x, const Tensor& y, std::array<int, 3> b) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    T* Y = y.data<T>();
    const auto gx = detail::planesOf(x.shape()), gy = detail::planesOf(y.shape());
    const std::int64_t rows = gy.rows(), W = gx.s[2], OW = gy.s[2];
#pragma omp parallel for schedule(static) num_threads(numThreads()) if (y.numel() > kParallelThreshold)
    for (std::int64_t r = 0; r < rows; ++r) {
      const RowIndex o = rowIndex(gy, r);
      const std::int64_t iz = o.z - b[0], iy = o.y - b[1];
      T* out = Y + r * OW;
      if (iz < 0 || iz >= gx.s[0] || iy < 0 || iy >= gx.s[1]) {
        std::fill_n(out, OW, T(0));
        continue;
      }
      std::fill_n(out, b[2], T(0));
      std::memcpy(out + b[2], X + rowStart(gx, o.p, iz, iy), static_cast<std::size_t>(W) * sizeof(T));
      std::fill(out + b[2] + W, out + OW, T(0));
    }
  });
}

void padBackward(const Tensor& dy, const Tensor& dx, double beta, std::array<int, 3> b) {
  dispatchFloat(dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* DY = dy.data<T>();
    T* DX = dx.data<T>();
    const auto gx = detail::planesOf(dx.shape()), gy = detail::planesOf(dy.shape());
    const std::int64_t rows = gx.rows(), W = gx.s[2];
#pragma omp parallel for schedule(static) num_threads(numThreads()) if (dx.numel() > kParallelThreshold)
    for (std::int64_t r = 0; r < rows; ++r) {
      const RowIndex in = rowIndex(gx, r);
      storeScaled(DX + r * W, DY + rowStart(gy, in.p, in.z + b[0], in.y + b[1]) + b[2], W, beta);
    }
  });
}

void copyIntoAxis(const Tensor& src, const Tensor& dst, int axis, std::int64_t offset) {
  dispatchFloat(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* S = src.data<T>();
    T* D = dst.data<T>();
    const auto s = detail::axisViewOf(src.shape(), axis), d = detail::axisViewOf(dst.shape(), axis);
    // Per outer index the source block [size, inner] is one contiguous run in both tensors.
    const std::int64_t block = s.size * s.inner;
#pragma omp parallel for schedule(static) num_threads(numThreads()) if (src.numel() > kParallelThreshold)
    for (std::int64_t o = 0; o < s.outer; ++o)
      std::memcpy(D + (o * d.size + offset) * d.inner, S + o * block, static_cast<std::size_t>(block) * sizeof(T));
  });
}

void copyFromAxis(const Tensor& src, const Tensor& dst, int axis, std::int64_t offset, double beta) {
  dispatchFloat(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* S = src.data<T>();
    T* D = dst.data<T>();
    const auto s = detail::axisViewOf(src.shape(), axis), d = detail::axisViewOf(dst.shape(), axis);
    const std::int64_t block = d.size * d.inner;
#pragma omp parallel for schedule(static) num_threads(numThreads()) if (dst.numel() > kParallelThreshold)
    for (std::int64_t o = 0; o < d.outer; ++o) storeScaled(D + o * block, S + (o * s.size + offset) * s.inner, block, beta);
  });
}

}  // namespace kaon::ops::cpu
