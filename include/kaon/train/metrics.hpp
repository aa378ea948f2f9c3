#pragma once
// Classifier and regression metrics, accumulated batch by batch and reduced exactly:
// every metric keeps sums and counts (or the raw scores for AUC) rather than averages, so
// the distributed trainer can combine ranks without averaging averages.
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kaon/comm/communicator.hpp"
#include "kaon/core/tensor.hpp"
#include "kaon/ops/kinds.hpp"

namespace kaon::train {

// Exact ROC AUC (Mann-Whitney U with ties counted as one half). scores/labels same length,
// labels 0/1. Returns NaN if only one class is present.
double rocAuc(const std::vector<float>& scores, const std::vector<float>& labels);

class MetricAccumulator {
 public:
  // names (the loss is always tracked):
  //   classification losses: "accuracy", "auc";
  //   regression losses (mse, mae, mape), over every output element:
  //     "rmse", "mae", "bias" (mean prediction - target),
  //     "psnr" (10 log10(range^2 / MSE), range = max - min of the targets seen: the
  //       super-resolution figure),
  //     "response", "resolution" (mean and standard deviation of prediction / target over
  //       elements with a non-zero target: an energy regression's scale and resolution).
  MetricAccumulator(ops::LossKind loss, std::vector<std::string> names);
  // pred: the model output for the batch; target as given to the loss; lossSum: sum of the
  // weighted per-sample losses; weightSum: what the loss is divided by (N: the Keras
  // sample-weight convention used by ops::loss).
  void add(const Tensor& pred, const Tensor& target, double lossSum, double weightSum);
  void reset();

  // Raw accumulated state, for reduction across ranks.
  struct State {
    double lossSum = 0, weightSum = 0;
    std::int64_t correct = 0, count = 0;
    std::vector<float> scores, labels;  // for AUC
    // Regression: sums over output elements (and over those with a non-zero target, ratios).
    double errSum = 0, absErrSum = 0, sqErrSum = 0;
    std::int64_t elements = 0;
    double targetMin = INFINITY, targetMax = -INFINITY;
    double ratioSum = 0, ratioSqSum = 0;
    std::int64_t ratioCount = 0;
  };
  // The metric names this accumulator accepts for a loss (accuracy/auc or the regression ones).
  static const std::vector<std::string>& namesFor(ops::LossKind loss);
  const State& state() const { return state_; }
  State& mutableState() { return state_; }
  // Final values: "loss" plus each requested metric.
  std::map<std::string, double> values() const;
  const std::vector<std::string>& names() const { return names_; }

 private:
  void addRegression(const float* pred, const float* target, std::int64_t n);

  ops::LossKind loss_;
  std::vector<std::string> names_;
  State state_;
};

// Combines every rank's accumulated state exactly (sums, counts; AUC scores gathered), so
// values() afterwards is the metric over all ranks' samples. Collective: all ranks call it.
void reduceMetrics(MetricAccumulator& metrics, comm::Communicator& comm);

}  // namespace kaon::train
