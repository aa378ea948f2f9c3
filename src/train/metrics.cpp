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

namespace {

bool isClassifier(ops::LossKind loss) {
  return loss == ops::LossKind::SoftmaxCrossEntropy || loss == ops::LossKind::BinaryCrossEntropyLogits;
}
const std::vector<std::string> kClassifierMetrics{"accuracy", "auc"};
const std::vector<std::string> kRegressionMetrics{"rmse", "mae", "bias", "psnr", "response", "resolution"};
bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

const std::vector<std::string>& MetricAccumulator::namesFor(ops::LossKind loss) {
  return isClassifier(loss) ? kClassifierMetrics : kRegressionMetrics;
}

MetricAccumulator::MetricAccumulator(ops::LossKind loss, std::vector<std::string> names)
    : loss_(loss), names_(std::move(names)) {
  for (const auto& n : names_) {
    KAON_CHECK(contains(kClassifierMetrics, n) || contains(kRegressionMetrics, n),
               "unknown metric '{}' (expected accuracy, auc, rmse, mae, bias, psnr, response or resolution)", n);
    KAON_CHECK(contains(namesFor(loss), n), "metric '{}' needs a {} loss, not {}", n,
               isClassifier(loss) ? "regression" : "classification", ops::lossName(loss));
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
  if (!isClassifier(loss_)) {
    KAON_CHECK(target.numel() == pred.numel(), "metrics: {} predictions for {} targets", pred.numel(), target.numel());
    addRegression(p, t, pred.numel());
    return;
  }
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

void MetricAccumulator::addRegression(const float* p, const float* t, std::int64_t n) {
  State& s = state_;
  for (std::int64_t i = 0; i < n; ++i) {
    const double y = t[i], e = static_cast<double>(p[i]) - y;
    s.errSum += e;
    s.absErrSum += std::abs(e);
    s.sqErrSum += e * e;
    s.targetMin = std::min(s.targetMin, y);
    s.targetMax = std::max(s.targetMax, y);
    if (y != 0) {
      const double r = p[i] / y;
      s.ratioSum += r;
      s.ratioSqSum += r * r;
      ++s.ratioCount;
    }
  }
  s.elements += n;
}

std::map<std::string, double> MetricAccumulator::values() const {
  std::map<std::string, double> v;
  v["loss"] = state_.weightSum > 0 ? state_.lossSum / state_.weightSum : NAN;
  for (const auto& name : names_) {
    if (name == "accuracy") v[name] = state_.count ? static_cast<double>(state_.correct) / state_.count : NAN;
    if (name == "auc") v[name] = rocAuc(state_.scores, state_.labels);
    const State& s = state_;
    const double n = static_cast<double>(s.elements), mse = n > 0 ? s.sqErrSum / n : NAN;
    if (name == "rmse") v[name] = std::sqrt(mse);
    if (name == "mae") v[name] = n > 0 ? s.absErrSum / n : NAN;
    if (name == "bias") v[name] = n > 0 ? s.errSum / n : NAN;
    if (name == "psnr") {  // a perfect prediction is +inf dB, as skimage reports it
      const double range = s.targetMax - s.targetMin;
      v[name] = n > 0 && range > 0 ? 10 * std::log10(range * range / mse) : NAN;
    }
    const double m = static_cast<double>(s.ratioCount), mean = m > 0 ? s.ratioSum / m : NAN;
    if (name == "response") v[name] = mean;
    if (name == "resolution") v[name] = m > 1 ? std::sqrt(std::max(0.0, (s.ratioSqSum - m * mean * mean) / (m - 1))) : NAN;
  }
  return v;
}

}  // namespace kaon::train
