// Concat, split and axis slices: CPU vs reference parity on every axis, the accumulating split
// kernel, finite-difference gradients (double), round trips and hand-computed values.
#include <gtest/gtest.h>

#include "../support/test_util.hpp"
#include "kaon/ops/concat.hpp"
#include "kaon/ops/reference_scope.hpp"
#include "ops/kernel_table.hpp"

namespace kaon {
namespace {

using testing::randomTensor;

// Three inputs of shape `base` with sizes 2, 1 and 3 on `axis`.
std::vector<Tensor> pieces(const Shape& base, int axis, DType dtype = DType::Float32, std::uint64_t seed = 1) {
  int a = base.normaliseAxis(axis);
  return {randomTensor(base.withDim(a, 2), seed, dtype), randomTensor(base.withDim(a, 1), seed + 1, dtype),
          randomTensor(base.withDim(a, 3), seed + 2, dtype)};
}

class ConcatAxes : public ::testing::TestWithParam<std::tuple<Shape, int>> {};

TEST_P(ConcatAxes, CpuMatchesReferenceAndSplitInverts) {
  auto [base, axis] = GetParam();
  auto xs = pieces(base, axis);
  Tensor y = ops::concat(xs, axis);
  int a = base.normaliseAxis(axis);
  EXPECT_EQ(y.shape(), base.withDim(a, 6));
  auto parts = ops::split(y, {2, 1, 3}, axis);
  Tensor s = ops::sliceAxis(y, axis, 1, 5);
  Tensor ds = ops::sliceAxisBackward(s, y.shape(), axis, 1);
  for (std::size_t i = 0; i < xs.size(); ++i) EXPECT_TENSORS_CLOSE(parts[i], xs[i], 0.0);  // exact round trip
  ops::ReferenceKernelsScope reference;
  EXPECT_TENSORS_CLOSE(y, ops::concat(xs, axis), 0.0);
  EXPECT_TENSORS_CLOSE(s, ops::sliceAxis(y, axis, 1, 5), 0.0);
  EXPECT_TENSORS_CLOSE(ds, ops::sliceAxisBackward(s, y.shape(), axis, 1), 0.0);
}

TEST_P(ConcatAxes, GradientsMatchFiniteDifferences) {
  auto [base, axis] = GetParam();
  double err = testing::maxGradientError([&](const std::vector<Tensor>& v) { return ops::concat(v, axis); },
                                         [&](const std::vector<Tensor>&, const Tensor& dy) {
                                           return ops::split(dy, {2, 1, 3}, axis);
                                         },
                                         pieces(base, axis, DType::Float64));
  EXPECT_LT(err, 1e-8);
  err = testing::maxGradientError(
      [&](const std::vector<Tensor>& v) { return ops::sliceAxis(v[0], axis, 2, 5); },
      [&](const std::vector<Tensor>& v, const Tensor& dy) {
        return std::vector<Tensor>{ops::sliceAxisBackward(dy, v[0].shape(), axis, 2)};
      },
      {randomTensor(base.withDim(base.normaliseAxis(axis), 6), 5, DType::Float64)});
  EXPECT_LT(err, 1e-8);
}

INSTANTIATE_TEST_SUITE_P(
    Axes, ConcatAxes,
    ::testing::Values(std::make_tuple(Shape{3, 4}, 0), std::make_tuple(Shape{3, 4}, 1),
                      std::make_tuple(Shape{2, 5, 3, 7}, 1), std::make_tuple(Shape{2, 5, 3, 7}, 2),
                      std::make_tuple(Shape{2, 5, 3, 7}, -1), std::make_tuple(Shape{2, 3, 4, 3, 5}, 3)));

// Large enough for the CPU kernels' threaded paths.
TEST(Concat, LargeTensorsMatchReference) {
  auto xs = pieces(Shape{16, 5, 40, 33}, 1);
  Tensor y = ops::concat(xs, 1);
  Tensor s = ops::sliceAxis(y, 1, 1, 5);
  ops::ReferenceKernelsScope reference;
  EXPECT_TENSORS_CLOSE(y, ops::concat(xs, 1), 0.0);
  EXPECT_TENSORS_CLOSE(s, ops::sliceAxis(y, 1, 1, 5), 0.0);
}

TEST(ConcatKernels, SplitAccumulatesWithBeta) {
  Tensor y = randomTensor(Shape{3, 7, 5}, 1);
  Tensor start = randomTensor(Shape{3, 4, 5}, 2);
  Tensor a = start.clone(), b = start.clone();
  ops::kernelTable(ops::Backend::Cpu).copyFromAxis(y, a, 1, 2, 0.5);
  ops::kernelTable(ops::Backend::Reference).copyFromAxis(y, b, 1, 2, 0.5);
  EXPECT_TENSORS_CLOSE(a, b, 1e-7);
  EXPECT_GT(testing::normalisedError(a, ops::sliceAxis(y, 1, 2, 6)), 1e-2);  // beta mattered
}

TEST(Concat, HandComputedValues) {
  Tensor a = Tensor::fromVector<float>(Shape{2, 2}, {1, 2, 3, 4});
  Tensor b = Tensor::fromVector<float>(Shape{2, 1}, {5, 6});
  EXPECT_EQ(ops::concat({a, b}, 1).toVector<float>(), (std::vector<float>{1, 2, 5, 3, 4, 6}));
  EXPECT_EQ(ops::concat({a, a}, 0).toVector<float>(), (std::vector<float>{1, 2, 3, 4, 1, 2, 3, 4}));
  EXPECT_EQ(ops::sliceAxis(a, -1, 1, 2).toVector<float>(), (std::vector<float>{2, 4}));
  EXPECT_EQ(ops::sliceAxisBackward(b, Shape{2, 3}, 1, 2).toVector<float>(), (std::vector<float>{0, 0, 5, 0, 0, 6}));
  auto parts = ops::split(ops::concat({a, b}, 1), {2, 1}, 1, {false, true});
  EXPECT_FALSE(parts[0].defined());
  EXPECT_EQ(parts[1].toVector<float>(), (std::vector<float>{5, 6}));
}

TEST(Concat, RejectsBadArguments) {
  Tensor a = randomTensor(Shape{2, 3, 4}, 1);
  EXPECT_THROW(ops::concat({a, randomTensor(Shape{2, 3, 5}, 2)}, 1), Error);      // differs off the axis
  EXPECT_THROW(ops::concat({a, randomTensor(Shape{2, 3}, 2)}, 1), Error);         // rank
  EXPECT_THROW(ops::concat({a, a.cast(DType::Float64)}, 1), Error);               // dtype
  EXPECT_THROW(ops::concat({a}, 3), Error);                                       // axis out of range
  EXPECT_THROW(ops::split(a, {1, 1}, 1), Error);                                  // sizes sum to 2, not 3
  EXPECT_THROW(ops::sliceAxis(a, 2, 3, 3), Error);                                // empty
  EXPECT_THROW(ops::sliceAxis(a, 2, 1, 5), Error);                                // past the end
}

}  // namespace
}  // namespace kaon
