// Upsampling and zero padding: CPU vs reference parity on odd shapes and asymmetric settings
// (1-D/2-D/3-D), the beta-accumulating kernel paths, finite-difference gradients (double) and
// hand-computed values.
#include <gtest/gtest.h>

#include "../support/test_util.hpp"
#include "kaon/ops/reference_scope.hpp"
#include "kaon/ops/resample.hpp"
#include "ops/kernel_table.hpp"

namespace kaon {
namespace {

using testing::randomTensor;

struct UpsampleCase {
  const char* label;
  Shape x;
  std::vector<int> factors;
};

std::vector<UpsampleCase> upsampleCases() {
  return {
      {"1d_x3", {2, 3, 7}, {3}},
      {"2d_asym", {2, 3, 5, 4}, {2, 3}},
      {"2d_identity", {1, 2, 3, 3}, {1, 1}},
      {"2d_tall", {1, 1, 3, 1}, {4}},
      {"3d_asym", {1, 2, 3, 4, 5}, {2, 1, 3}},
  };
}

struct PadCase {
  const char* label;
  Shape x;
  std::vector<int> before, after;
};

std::vector<PadCase> padCases() {
  return {
      {"1d_asym", {2, 3, 7}, {2}, {0}},
      {"2d_asym", {2, 3, 5, 4}, {1, 0}, {2, 3}},
      {"2d_zero", {1, 2, 3, 3}, {0}, {0}},
      {"3d_asym", {1, 2, 3, 4, 5}, {0, 2, 1}, {1, 0, 3}},
  };
}

class UpsampleTest : public ::testing::TestWithParam<int> {};

TEST_P(UpsampleTest, CpuMatchesReference) {
  UpsampleCase c = upsampleCases()[GetParam()];
  SCOPED_TRACE(c.label);
  Tensor x = randomTensor(c.x, 1);
  Tensor y = ops::upsample(x, c.factors);
  Tensor dy = randomTensor(y.shape(), 2);
  Tensor dx = ops::upsampleBackward(dy, x.shape(), c.factors);
  ops::ReferenceKernelsScope reference;
  EXPECT_TENSORS_CLOSE(y, ops::upsample(x, c.factors), 1e-6);
  EXPECT_TENSORS_CLOSE(dx, ops::upsampleBackward(dy, x.shape(), c.factors), 1e-5);
}

TEST_P(UpsampleTest, GradientsMatchFiniteDifferences) {
  UpsampleCase c = upsampleCases()[GetParam()];
  SCOPED_TRACE(c.label);
  double err = testing::maxGradientError(
      [&](const std::vector<Tensor>& v) { return ops::upsample(v[0], c.factors); },
      [&](const std::vector<Tensor>& v, const Tensor& dy) {
        return std::vector<Tensor>{ops::upsampleBackward(dy, v[0].shape(), c.factors)};
      },
      {randomTensor(c.x, 3, DType::Float64)});
  EXPECT_LT(err, 1e-8);
}

INSTANTIATE_TEST_SUITE_P(Cases, UpsampleTest, ::testing::Range(0, static_cast<int>(upsampleCases().size())));

class PadTest : public ::testing::TestWithParam<int> {};

TEST_P(PadTest, CpuMatchesReference) {
  PadCase c = padCases()[GetParam()];
  SCOPED_TRACE(c.label);
  Tensor x = randomTensor(c.x, 1);
  Tensor y = ops::pad(x, c.before, c.after);
  Tensor dy = randomTensor(y.shape(), 2);
  Tensor dx = ops::padBackward(dy, x.shape(), c.before);
  ops::ReferenceKernelsScope reference;
  EXPECT_TENSORS_CLOSE(y, ops::pad(x, c.before, c.after), 0.0);
  EXPECT_TENSORS_CLOSE(dx, ops::padBackward(dy, x.shape(), c.before), 0.0);
}

TEST_P(PadTest, GradientsMatchFiniteDifferences) {
  PadCase c = padCases()[GetParam()];
  SCOPED_TRACE(c.label);
  double err = testing::maxGradientError(
      [&](const std::vector<Tensor>& v) { return ops::pad(v[0], c.before, c.after); },
      [&](const std::vector<Tensor>& v, const Tensor& dy) {
        return std::vector<Tensor>{ops::padBackward(dy, v[0].shape(), c.before)};
      },
      {randomTensor(c.x, 3, DType::Float64)});
  EXPECT_LT(err, 1e-8);
}

INSTANTIATE_TEST_SUITE_P(Cases, PadTest, ::testing::Range(0, static_cast<int>(padCases().size())));

// Large enough for the CPU kernels' threaded paths.
TEST(Resample, LargeTensorsMatchReference) {
  Tensor x = randomTensor(Shape{4, 8, 41, 37}, 1);
  Tensor y = ops::upsample(x, {2, 3}), p = ops::pad(x, {1, 2}, {2, 1});
  Tensor dy = randomTensor(y.shape(), 2), dp = randomTensor(p.shape(), 3);
  Tensor dx = ops::upsampleBackward(dy, x.shape(), {2, 3}), dxp = ops::padBackward(dp, x.shape(), {1, 2});
  ops::ReferenceKernelsScope reference;
  EXPECT_TENSORS_CLOSE(y, ops::upsample(x, {2, 3}), 0.0);
  EXPECT_TENSORS_CLOSE(dx, ops::upsampleBackward(dy, x.shape(), {2, 3}), 1e-6);
  EXPECT_TENSORS_CLOSE(p, ops::pad(x, {1, 2}, {2, 1}), 0.0);
  EXPECT_TENSORS_CLOSE(dxp, ops::padBackward(dp, x.shape(), {1, 2}), 0.0);
}

// The backward kernels accumulate (dx = beta*dx + grad) for callers that sum gradients in place;
// the public ops use beta = 0, so call the kernels directly.
TEST(ResampleKernels, BackwardAccumulatesWithBeta) {
  auto& cpu = ops::kernelTable(ops::Backend::Cpu);
  auto& ref = ops::kernelTable(ops::Backend::Reference);
  Shape xs{2, 3, 5, 4, 3};
  std::array<int, 3> f{2, 1, 3}, before{1, 0, 2};
  Tensor dyUp = randomTensor(Shape{2, 3, 10, 4, 9}, 1), dyPad = randomTensor(Shape{2, 3, 7, 5, 6}, 2);
  Tensor start = randomTensor(xs, 3);
  Tensor a = start.clone(), b = start.clone();
  cpu.upsampleBackward(dyUp, a, 0.5, f);
  ref.upsampleBackward(dyUp, b, 0.5, f);
  EXPECT_TENSORS_CLOSE(a, b, 1e-6);
  EXPECT_GT(testing::normalisedError(a, ops::upsampleBackward(dyUp, xs, {2, 1, 3})), 1e-2);  // beta mattered
  a = start.clone(), b = start.clone();
  cpu.padBackward(dyPad, a, 0.5, before);
  ref.padBackward(dyPad, b, 0.5, before);
  EXPECT_TENSORS_CLOSE(a, b, 1e-6);
  EXPECT_GT(testing::normalisedError(a, ops::padBackward(dyPad, xs, {1, 0, 2})), 1e-2);
}

TEST(Resample, HandComputedValues) {
  Tensor x = Tensor::fromVector<float>(Shape{1, 1, 2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(ops::upsample(x, {2, 1}).toVector<float>(), (std::vector<float>{1, 2, 1, 2, 3, 4, 3, 4}));
  EXPECT_EQ(ops::upsample(x, {1, 2}).toVector<float>(), (std::vector<float>{1, 1, 2, 2, 3, 3, 4, 4}));
  Tensor dy = Tensor::fromVector<float>(Shape{1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_EQ(ops::upsampleBackward(dy, x.shape(), {1, 2}).toVector<float>(), (std::vector<float>{3, 7, 11, 15}));
  // One row of zeros before, two columns after: [[0 0 0 0], [1 2 0 0], [3 4 0 0]].
  Tensor p = ops::pad(x, {1, 0}, {0, 2});
  EXPECT_EQ(p.shape(), (Shape{1, 1, 3, 4}));
  EXPECT_EQ(p.toVector<float>(), (std::vector<float>{0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0}));
  Tensor dp = Tensor::fromVector<float>(Shape{1, 1, 3, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  EXPECT_EQ(ops::padBackward(dp, x.shape(), {1, 0}).toVector<float>(), (std::vector<float>{5, 6, 9, 10}));
  Tensor x1 = Tensor::fromVector<float>(Shape{1, 1, 2}, {7, 8});
  EXPECT_EQ(ops::pad(x1, {1}, {2}).toVector<float>(), (std::vector<float>{0, 7, 8, 0, 0}));
}

TEST(Resample, RejectsBadArguments) {
  Tensor x = randomTensor(Shape{1, 2, 3, 3}, 1);
  EXPECT_THROW(ops::upsample(x, {2, 2, 2}), Error);          // three factors for two axes
  EXPECT_THROW(ops::upsample(x, {0}), Error);                // factor < 1
  EXPECT_THROW(ops::pad(x, {-1}), Error);                    // negative padding
  EXPECT_THROW(ops::upsample(randomTensor(Shape{2, 3}, 1), {2}), Error);  // no spatial axis
  EXPECT_THROW(ops::upsampleBackward(randomTensor(Shape{1, 2, 5, 6}, 1), x.shape(), {2}), Error);  // dy shape
}

}  // namespace
}  // namespace kaon
