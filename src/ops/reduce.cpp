#include "kaon/ops/reduce.hpp"

#include "check.hpp"
#include "kernel_table.hpp"

namespace kaon::ops {
namespace {

void checkAxes(const char* op, const Shape& x, int first, int last) {
  KAON_CHECK(0 <= first && first <= last && last < x.rank(), "{}: axes [{}, {}] are not a range of the axes of {}",
             op, first, last, x.str());
}

Shape reducedShape(const Shape& x, int first, int last) {
  std::vector<std::int64_t> dims;
  for (int a = 0; a < x.rank(); ++a)
    if (a < first || a > last) dims.push_back(x[a]);
  return Shape(dims);
}

}  // namespace

Tensor sumAxes(const Tensor& x, int first, int last) {
  detail::checkDefined("sum over axes", "x", x);
  checkAxes("sum over axes", x.shape(), first, last);
  Tensor y = Tensor::empty(reducedShape(x.shape(), first, last), x.dtype(), x.device());
  require(&KernelTable::sumMiddleForward, "sum over axes", x.device())(
      x, y, x.shape().count(0, first), x.shape().count(first, last + 1), x.shape().count(last + 1, x.rank()));
  return y;
}

Tensor sumAxesBackward(const Tensor& dy, const Shape& xShape, int first, int last) {
  detail::checkDefined("sum over axes backward", "dy", dy);
  checkAxes("sum over axes backward", xShape, first, last);
  detail::checkShape("sum over axes backward", "dy", dy, reducedShape(xShape, first, last));
  Tensor dx = Tensor::empty(xShape, dy.dtype(), dy.device());
  require(&KernelTable::sumMiddleBackward, "sum over axes backward", dy.device())(
      dy, dx, 0.0, xShape.count(0, first), xShape.count(first, last + 1), xShape.count(last + 1, xShape.rank()));
  return dx;
}

}  // namespace kaon::ops
