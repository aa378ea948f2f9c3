#include "kaon/train/loss_scaler.hpp"

#include <algorithm>
#include <cmath>

namespace kaon::train {

LossScaler::LossScaler(LossScalerOptions options) : options_(options), scale_(options.initialScale) {
  KAON_CHECK(options_.initialScale > 0 && std::isfinite(options_.initialScale),
             "loss scale: initial scale must be a positive number, got {}", options_.initialScale);
  KAON_CHECK(options_.growthInterval >= 1, "loss scale: growth interval must be >= 1, got {}",
             options_.growthInterval);
  KAON_CHECK(options_.growthFactor > 1 && options_.backoffFactor > 0 && options_.backoffFactor < 1,
             "loss scale: growth factor must be > 1 and backoff factor in (0, 1), got {} and {}", options_.growthFactor,
             options_.backoffFactor);
}

bool LossScaler::update(bool gradientsFinite) {
  if (!gradientsFinite) {
    scale_ = std::max(options_.minScale, scale_ * options_.backoffFactor);
    goodSteps_ = 0;
    ++skipped_;
    return false;
  }
  if (++goodSteps_ >= options_.growthInterval) {
    scale_ = std::min(options_.maxScale, scale_ * options_.growthFactor);
    goodSteps_ = 0;
  }
  return true;
}

Tensor LossScaler::state() const {
  return Tensor::fromVector<double>(Shape{3}, {scale_, static_cast<double>(goodSteps_), static_cast<double>(skipped_)});
}

void LossScaler::setState(const Tensor& state) {
  KAON_CHECK(state.numel() == 3, "loss scale state: expected 3 values, got {}", state.numel());
  Tensor s = state.device().isCpu() ? state : state.to(Device::cpu());
  s = s.dtype() == DType::Float64 ? s : s.cast(DType::Float64);
  auto v = s.toVector<double>();
  KAON_CHECK(v[0] > 0 && std::isfinite(v[0]), "loss scale state: scale {} is not a positive number", v[0]);
  scale_ = v[0];
  goodSteps_ = static_cast<std::int64_t>(v[1]);
  skipped_ = static_cast<std::int64_t>(v[2]);
}

}  // namespace kaon::train
