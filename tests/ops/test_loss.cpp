// Losses: hand-computed values, per-sample weights, gradients, numerical stability.
#include <gtest/gtest.h>

#include <cmath>

#include "../support/test_util.hpp"
#include "kaon/ops/loss.hpp"
#include "kaon/ops/reference_scope.hpp"

namespace kaon {
namespace {

using testing::randomTensor;

TEST(Loss, SoftmaxCrossEntropyHandComputed) {
  Tensor logits = Tensor::fromVector<double>(Shape{2, 3}, {0, 0, 0, 1, 2, 3});
  Tensor labels = Tensor::fromVector<double>(Shape{2}, {1, 2});
  ops::LossResult r = ops::loss(ops::LossKind::SoftmaxCrossEntropy, logits, labels);
  double l0 = std::log(3.0);
  double l1 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3;
  EXPECT_NEAR(r.perSample.item(0), l0, 1e-12);
  EXPECT_NEAR(r.perSample.item(1), l1, 1e-12);
  EXPECT_NEAR(r.value, (l0 + l1) / 2, 1e-12);
  EXPECT_NEAR(r.grad.item(0), (1.0 / 3) / 2, 1e-12);   // (p - onehot) / N
  EXPECT_NEAR(r.grad.item(1), (1.0 / 3 - 1) / 2, 1e-12);
  // Weighted: sum w*l / N.
  Tensor w = Tensor::fromVector<double>(Shape{2}, {2, 0.5});
  ops::LossResult rw = ops::loss(ops::LossKind::SoftmaxCrossEntropy, logits, labels, w);
  EXPECT_NEAR(rw.value, (2 * l0 + 0.5 * l1) / 2, 1e-12);
  EXPECT_NEAR(rw.grad.item(0), 2 * (1.0 / 3) / 2, 1e-12);
}

TEST(Loss, BinaryCrossEntropyIsStableForLargeLogits) {
  Tensor logits = Tensor::fromVector<double>(Shape{4, 1}, {100, -100, 0, 2});
  Tensor target = Tensor::fromVector<double>(Shape{4, 1}, {1, 1, 0, 0.25});
  ops::LossResult r = ops::loss(ops::LossKind::BinaryCrossEntropyLogits, logits, target);
  EXPECT_NEAR(r.perSample.item(0), 0, 1e-12);
  EXPECT_NEAR(r.perSample.item(1), 100, 1e-9);  // -log(sigmoid(-100)) = 100, no overflow
  EXPECT_NEAR(r.perSample.item(2), std::log(2.0), 1e-12);
  double s = 1 / (1 + std::exp(-2.0));
  EXPECT_NEAR(r.perSample.item(3), -(0.25 * std::log(s) + 0.75 * std::log(1 - s)), 1e-12);
  EXPECT_TRUE(std::isfinite(r.value));
}

TEST(Loss, RegressionLossesHandComputed) {
  Tensor pred = Tensor::fromVector<double>(Shape{2, 2}, {1, 2, 3, 4});
  Tensor target = Tensor::fromVector<double>(Shape{2, 2}, {2, 2, 1, 8});
  EXPECT_NEAR(ops::loss(ops::LossKind::MeanSquaredError, pred, target).value, ((1 + 0) / 2.0 + (4 + 16) / 2.0) / 2, 1e-12);
  EXPECT_NEAR(ops::loss(ops::LossKind::MeanAbsoluteError, pred, target).value, ((1 + 0) / 2.0 + (2 + 4) / 2.0) / 2, 1e-12);
  double mape = ((50 + 0) / 2.0 + (200 + 50) / 2.0) / 2;
  EXPECT_NEAR(ops::loss(ops::LossKind::MeanAbsolutePercentageError, pred, target).value, mape, 1e-9);
}

class LossGradient : public ::testing::TestWithParam<ops::LossKind> {};

TEST_P(LossGradient, MatchesFiniteDifferencesAndReference) {
  ops::LossKind kind = GetParam();
  bool classes = kind == ops::LossKind::SoftmaxCrossEntropy;
  Shape shape = classes ? Shape{6, 4} : Shape{6, 3, 2};
  Tensor target = classes ? Tensor::fromVector<double>(Shape{6}, {0, 3, 1, 2, 2, 0})
                          : randomTensor(shape, 2, DType::Float64, 0.5, 1.5);
  if (kind == ops::LossKind::BinaryCrossEntropyLogits) target = randomTensor(shape, 2, DType::Float64, 0, 1);
  Tensor weight = randomTensor(Shape{6}, 3, DType::Float64, 0.1, 2);
  Tensor pred = randomTensor(shape, 4, DType::Float64, -2, 2);
  // Keep regression predictions away from the |p - t| kink.
  if (kind == ops::LossKind::MeanAbsoluteError || kind == ops::LossKind::MeanAbsolutePercentageError)
    for (std::int64_t i = 0; i < pred.numel(); ++i) pred.span<double>()[i] = target.span<double>()[i] + (i % 2 ? 0.3 : -0.3) * (1 + pred.span<double>()[i] / 4);
  ops::LossResult r = ops::loss(kind, pred, target, weight);
  const double eps = 1e-6;
  for (std::int64_t i = 0; i < pred.numel(); ++i) {
    double saved = pred.span<double>()[i];
    pred.span<double>()[i] = saved + eps;
    double up = ops::loss(kind, pred, target, weight, false).value;
    pred.span<double>()[i] = saved - eps;
    double down = ops::loss(kind, pred, target, weight, false).value;
    pred.span<double>()[i] = saved;
    EXPECT_NEAR(r.grad.span<double>()[i], (up - down) / (2 * eps), 1e-7) << "element " << i;
  }
  // CPU (threaded) equals reference on a larger float batch.
  Shape big = classes ? Shape{300, 5} : Shape{300, 7};
  Tensor p32 = randomTensor(big, 5);
  Tensor t32 = classes ? Tensor::zeros(Shape{300}) : randomTensor(big, 6, DType::Float32, 0.5, 1);
  if (classes)
    for (std::int64_t i = 0; i < 300; ++i) t32.span<float>()[i] = static_cast<float>(i % 5);
  ops::LossResult cpu = ops::loss(kind, p32, t32);
  ops::ReferenceKernelsScope reference;
  ops::LossResult ref = ops::loss(kind, p32, t32);
  EXPECT_NEAR(cpu.value, ref.value, 1e-6 * std::abs(ref.value));
  EXPECT_TENSORS_CLOSE(cpu.grad, ref.grad, 1e-6);
}

INSTANTIATE_TEST_SUITE_P(All, LossGradient,
                         ::testing::Values(ops::LossKind::SoftmaxCrossEntropy, ops::LossKind::BinaryCrossEntropyLogits,
                                           ops::LossKind::MeanSquaredError, ops::LossKind::MeanAbsoluteError,
                                           ops::LossKind::MeanAbsolutePercentageError));

TEST(Loss, RejectsBadLabelsAndShapes) {
  Tensor logits = randomTensor(Shape{2, 3}, 1);
  EXPECT_THROW(ops::loss(ops::LossKind::SoftmaxCrossEntropy, logits, Tensor::fromVector<float>(Shape{2}, {0, 3})), Error);
  EXPECT_THROW(ops::loss(ops::LossKind::SoftmaxCrossEntropy, logits, Tensor::fromVector<float>(Shape{2}, {0, 0.5})), Error);
  EXPECT_THROW(ops::loss(ops::LossKind::SoftmaxCrossEntropy, logits, Tensor::fromVector<float>(Shape{3}, {0, 1, 2})), Error);
  EXPECT_THROW(ops::loss(ops::LossKind::MeanSquaredError, logits, randomTensor(Shape{2, 2}, 2)), Error);
  EXPECT_THROW(ops::loss(ops::LossKind::MeanSquaredError, logits, randomTensor(Shape{2, 3}, 2), randomTensor(Shape{3}, 3)), Error);
}

}  // namespace
}  // namespace kaon
