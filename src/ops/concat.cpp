#include "kaon/ops/concat.hpp"

#include "check.hpp"
#include "kernel_table.hpp"

namespace kaon::ops {

Tensor concat(const std::vector<Tensor>& xs, int axis) {
  KAON_CHECK(!xs.empty(), "concat: no inputs");
  for (const Tensor& x : xs) detail::checkDefined("concat", "input", x);
  const Tensor& first = xs[0];
  int a = first.shape().normaliseAxis(axis);
  Shape out = first.shape();
  std::int64_t total = 0;
  for (const Tensor& x : xs) {
    detail::checkCompatible("concat", {&first, &x});
    KAON_CHECK(x.rank() == first.rank() && x.shape().withDim(a, first.dim(a)) == first.shape(),
               "concat along axis {}: shapes {} and {} differ off that axis", a, first.shape().str(), x.shape().str());
    total += x.dim(a);
  }
  Tensor y = Tensor::empty(out.withDim(a, total), first.dtype(), first.device());
  auto copy = require(&KernelTable::copyIntoAxis, "concat", first.device());
  std::int64_t offset = 0;
  for (const Tensor& x : xs) {
    copy(x, y, a, offset);
    offset += x.dim(a);
  }
  return y;
}

std::vector<Tensor> split(const Tensor& y, const std::vector<std::int64_t>& sizes, int axis,
                          const std::vector<bool>& want) {
  detail::checkDefined("split", "y", y);
  int a = y.shape().normaliseAxis(axis);
  KAON_CHECK(want.empty() || want.size() == sizes.size(), "split: {} sizes but {} flags", sizes.size(), want.size());
  std::int64_t total = 0;
  for (auto s : sizes) {
    KAON_CHECK(s > 0, "split: sizes must be positive");
    total += s;
  }
  KAON_CHECK(total == y.dim(a), "split: sizes sum to {}, axis {} of {} has {}", total, a, y.shape().str(), y.dim(a));
  std::vector<Tensor> pieces(sizes.size());
  std::int64_t offset = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (want.empty() || want[i]) pieces[i] = sliceAxis(y, a, offset, offset + sizes[i]);
    offset += sizes[i];
  }
  return pieces;
}

Tensor sliceAxis(const Tensor& x, int axis, std::int64_t begin, std::int64_t end) {
  detail::checkDefined("slice", "x", x);
  int a = x.shape().normaliseAxis(axis);
  KAON_CHECK(0 <= begin && begin < end && end <= x.dim(a), "slice [{}, {}) is outside axis {} of {}", begin, end, a,
             x.shape().str());
  Tensor y = Tensor::empty(x.shape().withDim(a, end - begin), x.dtype(), x.device());
  require(&KernelTable::copyFromAxis, "slice", x.device())(x, y, a, begin, 0.0);
  return y;
}

Tensor sliceAxisBackward(const Tensor& dy, const Shape& xShape, int axis, std::int64_t begin) {
  detail::checkDefined("slice backward", "dy", dy);
  int a = xShape.normaliseAxis(axis);
  KAON_CHECK(dy.rank() == xShape.rank() && dy.shape().withDim(a, xShape[a]) == xShape && begin >= 0 &&
                 begin + dy.dim(a) <= xShape[a],
             "slice backward: dy {} at {} does not fit x {} on axis {}", dy.shape().str(), begin, xShape.str(), a);
  Tensor dx = Tensor::zeros(xShape, dy.dtype(), dy.device());
  require(&KernelTable::copyIntoAxis, "slice backward", dy.device())(dy, dx, a, begin);
  return dx;
}

}  // namespace kaon::ops
