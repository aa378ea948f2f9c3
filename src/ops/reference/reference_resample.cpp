// Reference upsampling, padding and axis copies: one loop per element, mirroring the definitions.
#include <vector>

#include "../layout.hpp"
#include "reference_kernels.hpp"

namespace kaon::ops::reference {
namespace {

// Calls f(plane, z, y, x, flatIndex) for every element of a [planes, D, H, W] view.
template <class F>
void forEachElement(const detail::Planes& g, F&& f) {
  std::int64_t i = 0;
  for (std::int64_t p = 0; p < g.planes; ++p)
    for (std::int64_t z = 0; z < g.s[0]; ++z)
      for (std::int64_t y = 0; y < g.s[1]; ++y)
        for (std::int64_t x = 0; x < g.s[2]; ++x) f(p, z, y, x, i++);
}

std::int64_t at(const detail::Planes& g, std::int64_t p, std::int64_t z, std::int64_t y, std::int64_t x) {
  return ((p * g.s[0] + z) * g.s[1] + y) * g.s[2] + x;
}

}  // namespace

void upsampleForward(const Tensor& x, const Tensor& y, std::array<int, 3> f) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    T* Y = y.data<T>();
    auto gx = detail::planesOf(x.shape()), gy = detail::planesOf(y.shape());
    forEachElement(gy, [&](auto p, auto oz, auto oy, auto ox, auto o) {
      Y[o] = X[at(gx, p, oz / f[0], oy / f[1], ox / f[2])];
    });
  });
}

void upsampleBackward(const Tensor& dy, const Tensor& dx, double beta, std::array<int, 3> f) {
  dispatchFloat(dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* DY = dy.data<T>();
    T* DX = dx.data<T>();
    auto gx = detail::planesOf(dx.shape()), gy = detail::planesOf(dy.shape());
    std::vector<double> acc(static_cast<std::size_t>(dx.numel()), 0.0);
    forEachElement(gy, [&](auto p, auto oz, auto oy, auto ox, auto o) {
      acc[at(gx, p, oz / f[0], oy / f[1], ox / f[2])] += DY[o];
    });
    for (std::int64_t i = 0; i < dx.numel(); ++i)
      DX[i] = static_cast<T>(acc[i] + (beta == 0.0 ? 0.0 : beta * DX[i]));
  });
}

void padForward(const Tensor& x, const Tensor& y, std::array<int, 3> b) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    T* Y = y.data<T>();
    auto gx = detail::planesOf(x.shape()), gy = detail::planesOf(y.shape());
    forEachElement(gy, [&](auto p, auto oz, auto oy, auto ox, auto o) {
      std::int64_t iz = oz - b[0], iy = oy - b[1], ix = ox - b[2];
      bool inside = iz >= 0 && iz < gx.s[0] && iy >= 0 && iy < gx.s[1] && ix >= 0 && ix < gx.s[2];
      Y[o] = inside ? X[at(gx, p, iz, iy, ix)] : T(0);
    });
  });
}

void padBackward(const Tensor& dy, const Tensor& dx, double beta, std::array<int, 3> b) {
  dispatchFloat(dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* DY = dy.data<T>();
    T* DX = dx.data<T>();
    auto gx = detail::planesOf(dx.shape()), gy = detail::planesOf(dy.shape());
    forEachElement(gx, [&](auto p, auto iz, auto iy, auto ix, auto i) {
      double g = DY[at(gy, p, iz + b[0], iy + b[1], ix + b[2])];
      DX[i] = static_cast<T>(g + (beta == 0.0 ? 0.0 : beta * DX[i]));
    });
  });
}

void copyIntoAxis(const Tensor& src, const Tensor& dst, int axis, std::int64_t offset) {
  dispatchFloat(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* S = src.data<T>();
    T* D = dst.data<T>();
    auto s = detail::axisViewOf(src.shape(), axis), d = detail::axisViewOf(dst.shape(), axis);
    for (std::int64_t o = 0; o < s.outer; ++o)
      for (std::int64_t k = 0; k < s.size; ++k)
        for (std::int64_t i = 0; i < s.inner; ++i)
          D[(o * d.size + offset + k) * d.inner + i] = S[(o * s.size + k) * s.inner + i];
  });
}

void copyFromAxis(const Tensor& src, const Tensor& dst, int axis, std::int64_t offset, double beta) {
  dispatchFloat(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* S = src.data<T>();
    T* D = dst.data<T>();
    auto s = detail::axisViewOf(src.shape(), axis), d = detail::axisViewOf(dst.shape(), axis);
    for (std::int64_t o = 0; o < d.outer; ++o)
      for (std::int64_t k = 0; k < d.size; ++k)
        for (std::int64_t i = 0; i < d.inner; ++i) {
          T& out = D[(o * d.size + k) * d.inner + i];
          double v = S[(o * s.size + offset + k) * s.inner + i];
          out = static_cast<T>(v + (beta == 0.0 ? 0.0 : beta * out));
        }
  });
}

}  // namespace kaon::ops::reference
