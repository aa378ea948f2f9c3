// Convolution: optimised CPU kernels against the reference on varied geometries, and
// finite-difference gradient checks (double precision) of data, filter and bias gradients.
#include <gtest/gtest.h>

#include "../support/test_util.hpp"
#include "kaon/ops/conv.hpp"
#include "kaon/ops/reference_scope.hpp"

namespace kaon {
namespace {

using testing::randomTensor;

struct ConvCase {
  const char* label;
  Shape x, w;
  ops::ConvParams p;
};

std::vector<ConvCase> convCases() {
  return {
      {"1d_basic", {2, 3, 11}, {4, 3, 3}, {}},
      {"2d_basic", {2, 3, 7, 9}, {5, 3, 3, 3}, {}},
      {"2d_stride2_pad", {3, 2, 9, 8}, {4, 2, 3, 3}, {{2}, {}, {1}, {1}}},
      {"2d_asym_kernel_pad", {2, 3, 8, 7}, {2, 3, 2, 5}, {{1, 2}, {}, {0, 2}, {1, 1}}},
      {"2d_even_same", {2, 2, 6, 6}, {3, 2, 4, 4}, ops::samePadding(std::vector<std::int64_t>{6, 6}, std::vector<std::int64_t>{4, 4}, {1})},
      {"2d_dilation", {1, 2, 9, 9}, {3, 2, 3, 3}, {{1}, {2}, {2}, {2}}},
      {"2d_pointwise", {3, 4, 5, 5}, {6, 4, 1, 1}, {}},
      {"3d_odd_kernel", {2, 2, 7, 7, 9}, {3, 2, 6, 5, 8}, {{1}, {}, {2, 2, 3}, {3, 2, 4}}},
      {"3d_stride", {1, 3, 6, 7, 5}, {2, 3, 3, 3, 2}, {{2, 1, 2}, {}, {1}, {0}}},
  };
}

class ConvParity : public ::testing::TestWithParam<int> {};

TEST_P(ConvParity, CpuMatchesReference) {
  ConvCase c = convCases()[GetParam()];
  SCOPED_TRACE(c.label);
  Tensor x = randomTensor(c.x, 1), w = randomTensor(c.w, 2), b = randomTensor(Shape{c.w[0]}, 3);
  Tensor y = ops::conv(x, w, b, c.p);
  Tensor dy = randomTensor(y.shape(), 4);
  Tensor dx = ops::convBackwardData(dy, w, x.shape(), c.p);
  Tensor dw = randomTensor(w.shape(), 5), db = randomTensor(b.shape(), 6);
  Tensor dwRef = dw.clone(), dbRef = db.clone();
  ops::convBackwardParams(x, dy, dw, db, 0.5, c.p);  // beta = 0.5 exercises accumulation
  ops::ReferenceKernelsScope reference;
  EXPECT_TENSORS_CLOSE(y, ops::conv(x, w, b, c.p), 1e-5);
  EXPECT_TENSORS_CLOSE(dx, ops::convBackwardData(dy, w, x.shape(), c.p), 1e-5);
  ops::convBackwardParams(x, dy, dwRef, dbRef, 0.5, c.p);
  EXPECT_TENSORS_CLOSE(dw, dwRef, 1e-5);
  EXPECT_TENSORS_CLOSE(db, dbRef, 1e-5);
}

TEST_P(ConvParity, GradientsMatchFiniteDifferences) {
  ConvCase c = convCases()[GetParam()];
  SCOPED_TRACE(c.label);
  std::vector<Tensor> in{randomTensor(c.x, 1, DType::Float64), randomTensor(c.w, 2, DType::Float64),
                         randomTensor(Shape{c.w[0]}, 3, DType::Float64)};
  double err = testing::maxGradientError(
      [&](const std::vector<Tensor>& v) { return ops::conv(v[0], v[1], v[2], c.p); },
      [&](const std::vector<Tensor>& v, const Tensor& dy) {
        Tensor dw = Tensor::zeros(v[1].shape(), DType::Float64), db = Tensor::zeros(v[2].shape(), DType::Float64);
        ops::convBackwardParams(v[0], dy, dw, db, 0.0, c.p);
        return std::vector<Tensor>{ops::convBackwardData(dy, v[1], v[0].shape(), c.p), dw, db};
      },
      in);
  // Central differences of a sum over thousands of taps carry ~1e-7 rounding; a wrong index
  // or missing tap gives errors of order 1.
  EXPECT_LT(err, 2e-6);
}

INSTANTIATE_TEST_SUITE_P(Geometries, ConvParity, ::testing::Range(0, static_cast<int>(convCases().size())));

TEST(Conv, HandComputedValue) {
  // 1x1x3x3 input 1..9, 2x2 kernel of ones, no padding: each output is a 2x2 window sum.
  Tensor x = Tensor::fromVector<float>(Shape{1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor w = Tensor::full(Shape{1, 1, 2, 2}, 1.0);
  Tensor y = ops::conv(x, w, Tensor(), {});
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y.toVector<float>(), (std::vector<float>{12, 16, 24, 28}));
}

TEST(Conv, SamePaddingKeepsSizeForEvenKernels) {
  ops::ConvParams p = ops::samePadding(std::vector<std::int64_t>{8, 7}, std::vector<std::int64_t>{4, 6}, {1});
  EXPECT_EQ(p.padBegin, (std::vector<int>{1, 2}));  // extra padding goes at the end, like Keras
  EXPECT_EQ(p.padEnd, (std::vector<int>{2, 3}));
  Tensor y = ops::conv(randomTensor(Shape{1, 1, 8, 7}, 1), randomTensor(Shape{2, 1, 4, 6}, 2), Tensor(), p);
  EXPECT_EQ(y.shape(), (Shape{1, 2, 8, 7}));
  ops::ConvParams s2 = ops::samePadding(std::vector<std::int64_t>{9}, std::vector<std::int64_t>{3}, {2});
  EXPECT_EQ(ops::conv(randomTensor(Shape{1, 1, 9}, 1), randomTensor(Shape{1, 1, 3}, 2), Tensor(), s2).dim(2), 5);
}

TEST(Conv, TransposeIsTheAdjointOfConv) {
  // <conv(x, w), y> == <x, convT(y, w)> for the same geometry.
  ops::ConvParams p{{2, 2}, {}, {1, 0}, {1, 2}};
  Tensor x = randomTensor(Shape{2, 3, 9, 8}, 1, DType::Float64), w = randomTensor(Shape{4, 3, 3, 4}, 2, DType::Float64);
  Tensor y = ops::conv(x, w, Tensor(), p);
  Tensor r = randomTensor(y.shape(), 3, DType::Float64);
  std::vector<int> outPad{(9 + 1 + 1 - 3) % 2, (8 + 0 + 2 - 4) % 2};  // rows the strided conv dropped
  Tensor xt = ops::convTranspose(r, w, Tensor(), p, outPad);
  ASSERT_EQ(xt.shape(), x.shape());
  double lhs = 0, rhs = 0;
  for (std::int64_t i = 0; i < y.numel(); ++i) lhs += y.span<double>()[i] * r.span<double>()[i];
  for (std::int64_t i = 0; i < x.numel(); ++i) rhs += x.span<double>()[i] * xt.span<double>()[i];
  EXPECT_NEAR(lhs, rhs, 1e-9 * std::abs(lhs));
}

TEST(Conv, TransposeGradients) {
  ops::ConvParams p{{2, 1, 2}, {}, {1, 0, 0}, {0, 1, 1}};
  std::vector<int> outPad{1, 0, 1};
  std::vector<Tensor> in{randomTensor(Shape{2, 3, 3, 4, 3}, 1, DType::Float64),
                         randomTensor(Shape{3, 2, 3, 2, 3}, 2, DType::Float64),
                         randomTensor(Shape{2}, 3, DType::Float64)};
  double err = testing::maxGradientError(
      [&](const std::vector<Tensor>& v) { return ops::convTranspose(v[0], v[1], v[2], p, outPad); },
      [&](const std::vector<Tensor>& v, const Tensor& dy) {
        Tensor dw = Tensor::zeros(v[1].shape(), DType::Float64), db = Tensor::zeros(v[2].shape(), DType::Float64);
        ops::convTransposeBackwardParams(v[0], dy, dw, db, 0.0, p);
        return std::vector<Tensor>{ops::convTransposeBackwardData(dy, v[1], p), dw, db};
      },
      in);
  EXPECT_LT(err, 1e-7);
}

TEST(Conv, RejectsMismatchedShapes) {
  Tensor x = randomTensor(Shape{1, 3, 8, 8}, 1);
  EXPECT_THROW(ops::conv(x, randomTensor(Shape{4, 2, 3, 3}, 2), Tensor(), {}), Error);       // channels
  EXPECT_THROW(ops::conv(x, randomTensor(Shape{4, 3, 9, 9}, 2), Tensor(), {}), Error);       // window > input
  EXPECT_THROW(ops::conv(x, randomTensor(Shape{4, 3, 3, 3}, 2), randomTensor(Shape{5}, 3), {}), Error);  // bias
  EXPECT_THROW(ops::conv(x, randomTensor(Shape{4, 3, 3, 3}, 2, DType::Float64), Tensor(), {}), Error);  // dtype
}

}  // namespace
}  // namespace kaon
