// Sum over a range of axes: hand-computed values, CPU vs reference (beta path included),
// finite-difference gradient (double), argument errors.
#include <gtest/gtest.h>

#include "../support/test_util.hpp"
#include "kaon/ops/reduce.hpp"
#include "kaon/ops/reference_scope.hpp"
#include "ops/kernel_table.hpp"

namespace kaon {
namespace {

using testing::randomTensor;

TEST(SumAxes, HandComputedValues) {
  // x [2, 2, 3] = 0..11: summing axes 1..2 gives the per-sample totals, axis 1 the column sums.
  std::vector<float> v(12);
  for (int i = 0; i < 12; ++i) v[i] = static_cast<float>(i);
  Tensor x = Tensor::fromVector(Shape{2, 2, 3}, v);
  EXPECT_EQ(ops::sumAxes(x, 1, 2).toVector<float>(), (std::vector<float>{15, 51}));
  EXPECT_EQ(ops::sumAxes(x, 1, 1).toVector<float>(), (std::vector<float>{3, 5, 7, 15, 17, 19}));
  EXPECT_EQ(ops::sumAxes(x, 0, 0).shape(), (Shape{2, 3}));
  Tensor dx = ops::sumAxesBackward(Tensor::fromVector(Shape{2}, std::vector<float>{1, -2}), x.shape(), 1, 2);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(dx.item(i), i < 6 ? 1.0 : -2.0);
}

TEST(SumAxes, CpuMatchesReferenceWithBeta) {
  for (auto [shape, first, last] : {std::tuple<Shape, int, int>{Shape{3, 1, 5, 4, 6}, 1, 4},
                                    {Shape{2, 3, 5, 7}, 2, 2}, {Shape{4, 9, 2}, 0, 1}, {Shape{2, 40, 40, 30}, 1, 3}}) {
    SCOPED_TRACE(shape.str());
    Tensor x = randomTensor(shape, 1);
    Tensor y = ops::sumAxes(x, first, last);
    Tensor dy = randomTensor(y.shape(), 2);
    Tensor dx = randomTensor(shape, 3), dxRef = dx.clone();
    const std::int64_t outer = shape.count(0, first), size = shape.count(first, last + 1),
                       inner = shape.count(last + 1, shape.rank());
    ops::kernelTable(ops::Backend::Cpu).sumMiddleBackward(dy, dx, 0.5, outer, size, inner);
    ops::kernelTable(ops::Backend::Reference).sumMiddleBackward(dy, dxRef, 0.5, outer, size, inner);
    EXPECT_TENSORS_CLOSE(dx, dxRef, 1e-6);
    ops::ReferenceKernelsScope reference;
    EXPECT_TENSORS_CLOSE(y, ops::sumAxes(x, first, last), 1e-5);
  }
}

TEST(SumAxes, FiniteDifferenceGradient) {
  const Shape xs{2, 1, 3, 2, 4};
  auto forward = [](const std::vector<Tensor>& in) { return ops::sumAxes(in[0], 2, 3); };
  auto backward = [&](const std::vector<Tensor>&, const Tensor& dy) {
    return std::vector<Tensor>{ops::sumAxesBackward(dy, xs, 2, 3)};
  };
  EXPECT_LT(testing::maxGradientError(forward, backward, {randomTensor(xs, 4, DType::Float64)}), 1e-6);
}

TEST(SumAxes, RejectsBadAxes) {
  Tensor x = Tensor::zeros(Shape{2, 3});
  EXPECT_THROW(ops::sumAxes(x, 1, 2), Error);
  EXPECT_THROW(ops::sumAxes(x, 1, 0), Error);
  EXPECT_THROW(ops::sumAxesBackward(Tensor::zeros(Shape{3}), x.shape(), 1, 1), Error);
}

}  // namespace
}  // namespace kaon
