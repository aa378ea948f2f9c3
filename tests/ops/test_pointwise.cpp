// Activations, softmax, GEMM/linear and element-wise ops: parity, gradients, known values.
#include <gtest/gtest.h>

#include <cmath>

#include "../support/test_util.hpp"
#include "kaon/ops/activation.hpp"
#include "kaon/ops/elementwise.hpp"
#include "kaon/ops/linalg.hpp"
#include "kaon/ops/reference_scope.hpp"

namespace kaon {
namespace {

using testing::randomTensor;

class ActivationTest : public ::testing::TestWithParam<ops::Activation> {};

TEST_P(ActivationTest, CpuMatchesReferenceAndGradients) {
  ops::Activation kind = GetParam();
  double alpha = kind == ops::Activation::LeakyRelu ? 0.2 : 1.0;
  Tensor x = randomTensor(Shape{7, 33, 5}, 1, DType::Float32, -3, 3);
  Tensor y = ops::activation(kind, x, alpha);
  Tensor dy = randomTensor(x.shape(), 2);
  Tensor dx = ops::activationBackward(kind, x, y, dy, alpha);
  {
    ops::ReferenceKernelsScope reference;
    EXPECT_TENSORS_CLOSE(y, ops::activation(kind, x, alpha), 1e-6);
    EXPECT_TENSORS_CLOSE(dx, ops::activationBackward(kind, x, y, dy, alpha), 1e-6);
  }
  // Keep samples away from the kink at 0, where finite differences are meaningless.
  Tensor xd = randomTensor(Shape{4, 9}, 3, DType::Float64, 0.05, 2);
  for (std::int64_t i = 0; i < xd.numel(); i += 2) xd.span<double>()[i] *= -1;
  double err = testing::maxGradientError(
      [&](const std::vector<Tensor>& v) { return ops::activation(kind, v[0], alpha); },
      [&](const std::vector<Tensor>& v, const Tensor& g) {
        return std::vector<Tensor>{ops::activationBackward(kind, v[0], ops::activation(kind, v[0], alpha), g, alpha)};
      },
      {xd});
  EXPECT_LT(err, 1e-8);
}

INSTANTIATE_TEST_SUITE_P(All, ActivationTest,
                         ::testing::Values(ops::Activation::Identity, ops::Activation::Relu, ops::Activation::LeakyRelu,
                                           ops::Activation::Sigmoid, ops::Activation::Tanh, ops::Activation::Elu));

TEST(Activation, KnownValues) {
  Tensor x = Tensor::fromVector<double>(Shape{4}, {-2, -0.5, 0.5, 2});
  EXPECT_EQ(ops::activation(ops::Activation::Relu, x).toVector<double>(), (std::vector<double>{0, 0, 0.5, 2}));
  EXPECT_EQ(ops::activation(ops::Activation::LeakyRelu, x, 0.1).toVector<double>(),
            (std::vector<double>{-0.2, -0.05, 0.5, 2}));
  EXPECT_NEAR(ops::activation(ops::Activation::Sigmoid, x).item(3), 1 / (1 + std::exp(-2.0)), 1e-15);
}

TEST(Softmax, ValuesGradientsAndStability) {
  Tensor x = Tensor::fromVector<double>(Shape{2, 3}, {1, 2, 3, 1000, 1000, 1000});
  Tensor y = ops::softmax(x);
  double e = std::exp(1.0), s = 1 + e + e * e;
  EXPECT_NEAR(y.item(0), 1 / s, 1e-15);
  EXPECT_NEAR(y.item(2), e * e / s, 1e-15);
  EXPECT_NEAR(y.item(4), 1.0 / 3, 1e-15);  // large logits do not overflow
  Tensor x3 = randomTensor(Shape{3, 4, 5}, 4, DType::Float64, -2, 2);
  double err = testing::maxGradientError(
      [](const std::vector<Tensor>& v) { return ops::softmax(v[0]); },
      [](const std::vector<Tensor>& v, const Tensor& g) {
        return std::vector<Tensor>{ops::softmaxBackward(ops::softmax(v[0]), g)};
      },
      {x3});
  EXPECT_LT(err, 1e-8);
  Tensor xf = randomTensor(Shape{5, 7, 3}, 5);
  Tensor yf = ops::softmax(xf), dyf = randomTensor(xf.shape(), 6);
  Tensor dxf = ops::softmaxBackward(yf, dyf);
  ops::ReferenceKernelsScope reference;
  EXPECT_TENSORS_CLOSE(yf, ops::softmax(xf), 1e-6);
  EXPECT_TENSORS_CLOSE(dxf, ops::softmaxBackward(yf, dyf), 1e-6);
}

TEST(Gemm, AllTransposesMatchReference) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "transA=" << ta << " transB=" << tb);
      std::int64_t M = 37, N = 29, K = 53;
      Tensor a = randomTensor(ta ? Shape{K, M} : Shape{M, K}, 1);
      Tensor b = randomTensor(tb ? Shape{N, K} : Shape{K, N}, 2);
      Tensor c = randomTensor(Shape{M, N}, 3), cRef = c.clone();
      ops::gemm(ta, tb, 0.7, a, b, 0.3, c);
      ops::ReferenceKernelsScope reference;
      ops::gemm(ta, tb, 0.7, a, b, 0.3, cRef);
      EXPECT_TENSORS_CLOSE(c, cRef, 1e-5);
    }
}

TEST(Linear, GradientsMatchFiniteDifferences) {
  std::vector<Tensor> in{randomTensor(Shape{5, 7}, 1, DType::Float64), randomTensor(Shape{3, 7}, 2, DType::Float64),
                         randomTensor(Shape{3}, 3, DType::Float64)};
  double err = testing::maxGradientError(
      [](const std::vector<Tensor>& v) { return ops::linear(v[0], v[1], v[2]); },
      [](const std::vector<Tensor>& v, const Tensor& dy) {
        Tensor dw = randomTensor(v[1].shape(), 9, DType::Float64), db = Tensor::zeros(v[2].shape(), DType::Float64);
        ops::linearBackwardParams(v[0], dy, dw, db, 0.0);  // beta 0 must ignore dw's old contents
        return std::vector<Tensor>{ops::linearBackwardData(dy, v[1]), dw, db};
      },
      in);
  EXPECT_LT(err, 1e-8);
  EXPECT_THROW(ops::linear(in[0], randomTensor(Shape{3, 6}, 4, DType::Float64), Tensor()), Error);
}

TEST(Elementwise, ArithmeticAndReductions) {
  Tensor a = Tensor::fromVector<float>(Shape{2, 2}, {1, 2, 3, 4});
  Tensor b = Tensor::fromVector<float>(Shape{2, 2}, {10, 20, 30, 40});
  EXPECT_EQ(ops::add(a, b).toVector<float>(), (std::vector<float>{11, 22, 33, 44}));
  EXPECT_EQ(ops::mul(a, b).toVector<float>(), (std::vector<float>{10, 40, 90, 160}));
  ops::addInPlace(a, b, -0.5);
  EXPECT_EQ(a.toVector<float>(), (std::vector<float>{-4, -8, -12, -16}));
  EXPECT_DOUBLE_EQ(ops::sum(b), 100);
  EXPECT_DOUBLE_EQ(ops::mean(b), 25);
  EXPECT_DOUBLE_EQ(ops::sumSquares(b), 3000);
  EXPECT_THROW(ops::add(a, Tensor::zeros(Shape{4})), Error);
}

}  // namespace
}  // namespace kaon
