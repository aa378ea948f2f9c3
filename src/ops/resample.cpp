#include "kaon/ops/resample.hpp"

#include "check.hpp"
#include "kernel_table.hpp"

namespace kaon::ops {
namespace {

void checkSpatial(const char* op, const Shape& x) {
  KAON_CHECK(x.rank() >= 3 && x.rank() <= 5, "{}: expects [N, C, *spatial] with 1 to 3 spatial axes, got {}", op,
             x.str());
}

// One value per spatial axis (or one for all) -> the three kernel axes, 1 (or 0) for absent ones.
std::array<int, 3> perAxis(const char* op, const char* what, const std::vector<int>& v, int rank, int absent,
                           int minimum) {
  KAON_CHECK(v.size() == 1 || static_cast<int>(v.size()) == rank, "{}: {} needs 1 or {} values, got {}", op, what,
             rank, v.size());
  std::array<int, 3> out{absent, absent, absent};
  for (int i = 0; i < rank; ++i) {
    int value = v[v.size() == 1 ? 0 : i];
    KAON_CHECK(value >= minimum, "{}: {} must be >= {}, got {}", op, what, minimum, value);
    out[3 - rank + i] = value;
  }
  return out;
}

Shape mapSpatial(const Shape& x, const std::array<int, 3>& a, const std::array<int, 3>& b, bool multiply) {
  Shape out = x;
  int rank = x.rank() - 2;
  for (int i = 0; i < rank; ++i) {
    int k = 3 - rank + i;
    out[2 + i] = multiply ? x[2 + i] * a[k] : x[2 + i] + a[k] + b[k];
  }
  return out;
}

}  // namespace

Tensor upsample(const Tensor& x, const std::vector<int>& factors) {
  detail::checkDefined("upsample", "x", x);
  checkSpatial("upsample", x.shape());
  auto f = perAxis("upsample", "factors", factors, x.rank() - 2, 1, 1);
  Tensor y = Tensor::empty(mapSpatial(x.shape(), f, f, true), x.dtype(), x.device());
  require(&KernelTable::upsampleForward, "upsample", x.device())(x, y, f);
  return y;
}

Tensor upsampleBackward(const Tensor& dy, const Shape& xShape, const std::vector<int>& factors) {
  detail::checkDefined("upsample backward", "dy", dy);
  checkSpatial("upsample backward", xShape);
  auto f = perAxis("upsample backward", "factors", factors, xShape.rank() - 2, 1, 1);
  detail::checkShape("upsample backward", "dy", dy, mapSpatial(xShape, f, f, true));
  Tensor dx = Tensor::empty(xShape, dy.dtype(), dy.device());
  require(&KernelTable::upsampleBackward, "upsample backward", dy.device())(dy, dx, 0.0, f);
  return dx;
}

Tensor pad(const Tensor& x, const std::vector<int>& before, const std::vector<int>& after) {
  detail::checkDefined("pad", "x", x);
  checkSpatial("pad", x.shape());
  int rank = x.rank() - 2;
  auto b = perAxis("pad", "padding before", before, rank, 0, 0);
  auto a = perAxis("pad", "padding after", after.empty() ? before : after, rank, 0, 0);
  Tensor y = Tensor::empty(mapSpatial(x.shape(), b, a, false), x.dtype(), x.device());
  require(&KernelTable::padForward, "pad", x.device())(x, y, b);
  return y;
}

Tensor padBackward(const Tensor& dy, const Shape& xShape, const std::vector<int>& before) {
  detail::checkDefined("pad backward", "dy", dy);
  checkSpatial("pad backward", xShape);
  int rank = xShape.rank() - 2;
  auto b = perAxis("pad backward", "padding before", before, rank, 0, 0);
  KAON_CHECK(dy.rank() == xShape.rank() && dy.dim(0) == xShape[0] && dy.dim(1) == xShape[1],
             "pad backward: dy {} does not match x {}", dy.shape().str(), xShape.str());
  for (int i = 0; i < rank; ++i)
    KAON_CHECK(dy.dim(2 + i) >= xShape[2 + i] + b[3 - rank + i],
               "pad backward: dy {} is too small for x {} padded by {} before", dy.shape().str(), xShape.str(),
               b[3 - rank + i]);
  Tensor dx = Tensor::empty(xShape, dy.dtype(), dy.device());
  require(&KernelTable::padBackward, "pad backward", dy.device())(dy, dx, 0.0, b);
  return dx;
}

}  // namespace kaon::ops
