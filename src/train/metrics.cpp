#include "kaon/train/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace kaon::train {

double rocAuc(const std::vector<float>& scores, const std::vector<float>& labels) {
  KAON_CHECK(scores.size() == labels.size(), "auc: {} scores for {} labels", scores.size(), labels.size());
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](auto a, auto b) { return scores[a] < scores[b]; });
  // Sum of positive ranks, with tied scores sharing their average rank.
  double rankSum = 0, positives = 0;
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    double averageRank = (i + 1 + j) / 2.0;  // ranks are 1-based
    for (std::size_t k = i; k < j; ++k)
      if (labels[order[k]] > 0.5f) rankSum += averageRank, positives += 1;
    i = j;
  }
  double negatives = static_cast<double>(scores.size()) - positives;
  if (positives == 0 || negatives == 0) return NAN;
  return (rankSum - positives * (positives + 1) / 2) / (positives * negatives);
}

MetricAccumulator::MetricAccumulator(ops::LossKind loss, std::vector<std::string> names)
    : loss_(loss), names_(std::move(names)) {
  bool classifier = loss == ops::LossKind::SoftmaxCrossEntropy || loss == ops::LossKind::BinaryCrossEntropyLogits;
  for (const auto& n : names_) {
    KAON_CHECK(n == "accuracy" || n == "auc", "unknown metric '{}' (expected accuracy or auc)", n);
    KAON_CHECK(classifier, "metric '{}' needs a classification loss, not {}", n, ops::lossName(loss));
  }
}

void MetricAccumulator::reset() { state_ = State{}; }

void MetricAccumulator::add(const Tensor& pred, const Tensor& target, double lossSum, double weightSum) {
  state_.lossSum += lossSum;
  state_.weightSum += weightSum;
  if (names_.empty()) return;
  KAON_CHECK(pred.dtype() == DType::Float32 && pred.device().isCpu(), "metrics read float32 CPU predictions");
  const std::int64_t n = pred.dim(0), c = pred.numel() / std::max<std::int64_t>(n, 1);
  const float* p = pred.data<float>();
  const float* t = target.data<float>();
  bool wantAuc = std::find(names_.begin(), names_.end(), "auc") != names_.end();
  KAON_CHECK(!wantAuc || loss_ != ops::LossKind::SoftmaxCrossEntropy || c == 2,
             "metric 'auc' needs a binary classifier; this model has {} classes", c);
  for (std::int64_t i = 0; i < n; ++i) {
    const float* row = p + i * c;
    if (loss_ == ops::LossKind::SoftmaxCrossEntropy) {
      std::int64_t best = std::max_element(row, row + c) - row;
      state_.correct += best == static_cast<std::int64_t>(t[i]);
      if (wantAuc && c == 2) {  // score of class 1: the logit difference orders like its softmax
        state_.scores.push_back(row[1] - row[0]);
        state_.labels.push_back(t[i]);
      }
    } else {  // binary cross-entropy on one logit per sample
      state_.correct += (row[0] > 0) == (t[i * c] > 0.5f);
      if (wantAuc) {
        state_.scores.push_back(row[0]);
        state_.labels.push_back(t[i * c]);
      }
    }
    ++state_.count;
  }
}

std::map<std::string, double> MetricAccumulator::values() const {
  std::map<std::string, double> v;
  v["loss"] = state_.weightSum > 0 ? state_.lossSum / state_.weightSum : NAN;
  for (const auto& name : names_) {
    if (name == "accuracy") v[name] = state_.count ? static_cast<double>(state_.correct) / state_.count : NAN;
    if (name == "auc") v[name] = rocAuc(state_.scores, state_.labels);
  }
  return v;
}

}  // namespace kaon::train
