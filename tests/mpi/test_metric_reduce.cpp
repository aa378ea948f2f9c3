// Metrics reduced over ranks equal the metrics of one accumulator over all ranks' samples
// (sums, counts and target range are combined exactly, AUC scores gathered).
#include <gtest/gtest.h>

#include "kaon/comm/communicator.hpp"
#include "kaon/train/metrics.hpp"

namespace kaon::train {
namespace {

// Sample i of a fixed set: prediction and target, different on every rank's share.
float predictionOf(int i) { return static_cast<float>(0.37 * i - 3 + (i % 3)); }
float targetOf(int i) { return static_cast<float>(0.4 * i - 2.5); }

TEST(MetricReduce, RanksCombineToTheMetricsOfAllSamples) {
  auto world = comm::makeWorldCommunicator();
  const int total = 23, r = world->rank(), n = world->size();
  const std::vector<std::string> names{"rmse", "mae", "bias", "psnr", "response", "resolution"};
  MetricAccumulator all(ops::LossKind::MeanSquaredError, names), mine(ops::LossKind::MeanSquaredError, names);
  std::vector<float> p, t;
  for (int i = 0; i < total; ++i) {
    all.add(Tensor::fromVector(Shape{1, 1}, std::vector<float>{predictionOf(i)}),
            Tensor::fromVector(Shape{1, 1}, std::vector<float>{targetOf(i)}), 1.0, 1.0);
    if (i % n == r) p.push_back(predictionOf(i)), t.push_back(targetOf(i));
  }
  const auto k = static_cast<std::int64_t>(p.size());
  if (k > 0) mine.add(Tensor::fromVector(Shape{k, 1}, p), Tensor::fromVector(Shape{k, 1}, t), 1.0 * k, 1.0 * k);
  reduceMetrics(mine, *world);
  auto expected = all.values(), got = mine.values();
  for (const auto& name : names) EXPECT_NEAR(got[name], expected[name], 1e-9) << name << " on rank " << r;
  EXPECT_NEAR(got["loss"], expected["loss"], 1e-12);
}

}  // namespace
}  // namespace kaon::train
