// Metric values against hand-computed cases; batch-by-batch accumulation equals one pass.
#include <gtest/gtest.h>

#include <cmath>

#include "kaon/train/metrics.hpp"

namespace kaon::train {
namespace {

Tensor column(std::vector<float> v) {
  return Tensor::fromVector(Shape{static_cast<std::int64_t>(v.size()), 1}, v);
}

TEST(Metrics, RegressionValuesMatchHandComputedOnes) {
  MetricAccumulator acc(ops::LossKind::MeanSquaredError, {"rmse", "mae", "bias", "psnr", "response", "resolution"});
  // errors: +1, -1, +2, 0; targets 2, 4, 4, 0 (the last is left out of the ratios)
  acc.add(column({3, 3, 6, 0}), column({2, 4, 4, 0}), 6.0, 4.0);
  auto v = acc.values();
  EXPECT_DOUBLE_EQ(v["loss"], 1.5);
  EXPECT_DOUBLE_EQ(v["rmse"], std::sqrt(6.0 / 4));
  EXPECT_DOUBLE_EQ(v["mae"], 1.0);
  EXPECT_DOUBLE_EQ(v["bias"], 0.5);
  EXPECT_NEAR(v["psnr"], 10 * std::log10(16 / 1.5), 1e-12);  // range 4 - 0
  // ratios 1.5, 0.75, 1.5: mean 1.25, sample standard deviation sqrt(0.375 / 2)
  EXPECT_NEAR(v["response"], 1.25, 1e-12);
  EXPECT_NEAR(v["resolution"], std::sqrt(0.375 / 2), 1e-12);
}

TEST(Metrics, BatchesAccumulateLikeOnePass) {
  const std::vector<std::string> names{"rmse", "mae", "bias", "psnr", "response", "resolution"};
  MetricAccumulator whole(ops::LossKind::MeanAbsoluteError, names), parts(ops::LossKind::MeanAbsoluteError, names);
  whole.add(column({1, 2, 5, -1, 3}), column({1.5f, 2, 4, -2, 2}), 0, 5);
  parts.add(column({1, 2}), column({1.5f, 2}), 0, 2);
  parts.add(column({5, -1, 3}), column({4, -2, 2}), 0, 3);
  for (const auto& n : names) EXPECT_NEAR(parts.values()[n], whole.values()[n], 1e-12) << n;
}

TEST(Metrics, AMetricOfTheWrongKindIsRefused) {
  EXPECT_THROW(MetricAccumulator(ops::LossKind::SoftmaxCrossEntropy, {"rmse"}), Error);
  EXPECT_THROW(MetricAccumulator(ops::LossKind::MeanSquaredError, {"accuracy"}), Error);
  EXPECT_THROW(MetricAccumulator(ops::LossKind::MeanSquaredError, {"f1"}), Error);
  EXPECT_NO_THROW(MetricAccumulator(ops::LossKind::MeanAbsolutePercentageError, {"response", "resolution"}));
}

TEST(Metrics, UndefinedValuesAreNaN) {
  MetricAccumulator acc(ops::LossKind::MeanSquaredError, {"psnr", "response"});
  acc.add(column({1, 2}), column({0, 0}), 0, 2);  // constant zero targets: no range, no ratio
  EXPECT_TRUE(std::isnan(acc.values()["psnr"]));
  EXPECT_TRUE(std::isnan(acc.values()["response"]));
}

}  // namespace
}  // namespace kaon::train
