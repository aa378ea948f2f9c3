#include "kaon/optim/schedule.hpp"

#include <cmath>
#include <numbers>

#include "kaon/core/error.hpp"

namespace kaon::optim {
namespace {
void checkStep(long long step) { KAON_CHECK(step >= 0, "schedule: step must be >= 0, got {}", step); }
void checkLr(const char* schedule, double lr) {
  KAON_CHECK(std::isfinite(lr) && lr > 0, "{} schedule: lr must be > 0, got {}", schedule, lr);
}
}  // namespace

ConstantSchedule::ConstantSchedule(double lr) : lr_(lr) { checkLr("constant", lr); }
double ConstantSchedule::lr(long long step) const {
  checkStep(step);
  return lr_;
}
std::string ConstantSchedule::describe() const { return fmt::format("constant(lr={})", lr_); }

StepDecaySchedule::StepDecaySchedule(double lr, double gamma, long long everySteps)
    : lr_(lr), gamma_(gamma), every_(everySteps) {
  checkLr("step", lr);
  KAON_CHECK(gamma > 0, "step schedule: gamma must be > 0, got {}", gamma);
  KAON_CHECK(everySteps >= 1, "step schedule: decay interval must be >= 1 step, got {}", everySteps);
}
double StepDecaySchedule::lr(long long step) const {
  checkStep(step);
  return lr_ * std::pow(gamma_, static_cast<double>(step / every_));  // integer division: floor
}
std::string StepDecaySchedule::describe() const {
  return fmt::format("step(lr={}, x{} every {} steps)", lr_, gamma_, every_);
}

ExponentialSchedule::ExponentialSchedule(double lr, double decayRate, long long decaySteps)
    : lr_(lr), rate_(decayRate), decaySteps_(decaySteps) {
  checkLr("exponential", lr);
  KAON_CHECK(decayRate > 0, "exponential schedule: decay_rate must be > 0, got {}", decayRate);
  KAON_CHECK(decaySteps >= 1, "exponential schedule: decay interval must be >= 1 step, got {}", decaySteps);
}
double ExponentialSchedule::lr(long long step) const {
  checkStep(step);
  return lr_ * std::pow(rate_, static_cast<double>(step) / static_cast<double>(decaySteps_));
}
std::string ExponentialSchedule::describe() const {
  return fmt::format("exponential(lr={}, x{} per {} steps)", lr_, rate_, decaySteps_);
}

CosineSchedule::CosineSchedule(double lr, double minLr, long long totalSteps)
    : lr_(lr), minLr_(minLr), total_(totalSteps) {
  checkLr("cosine", lr);
  KAON_CHECK(minLr >= 0 && minLr <= lr, "cosine schedule: min_lr must be in [0, lr={}], got {}", lr, minLr);
  KAON_CHECK(totalSteps >= 1, "cosine schedule: needs the run length in steps (>= 1), got {}", totalSteps);
}
double CosineSchedule::lr(long long step) const {
  checkStep(step);
  double progress = static_cast<double>(std::min(step, total_)) / static_cast<double>(total_);
  return minLr_ + (lr_ - minLr_) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}
std::string CosineSchedule::describe() const {
  return fmt::format("cosine(lr={}, min_lr={}, over {} steps)", lr_, minLr_, total_);
}

WarmupSchedule::WarmupSchedule(std::unique_ptr<Schedule> inner, long long warmupSteps, double startFactor)
    : inner_(std::move(inner)), warmup_(warmupSteps), start_(startFactor) {
  KAON_CHECK(inner_ != nullptr, "warm-up schedule: needs a schedule to wrap");
  KAON_CHECK(warmupSteps >= 1, "warm-up schedule: warm-up must last >= 1 step, got {}", warmupSteps);
  KAON_CHECK(startFactor >= 0 && startFactor <= 1, "warm-up schedule: start factor must be in [0, 1], got {}",
             startFactor);
}
double WarmupSchedule::lr(long long step) const {
  double base = inner_->lr(step);
  if (step >= warmup_) return base;
  return base * (start_ + (1.0 - start_) * static_cast<double>(step) / static_cast<double>(warmup_));
}
std::string WarmupSchedule::describe() const {
  return fmt::format("warmup({} steps from {}x, then {})", warmup_, start_, inner_->describe());
}

ScaledSchedule::ScaledSchedule(std::unique_ptr<Schedule> inner, double factor)
    : inner_(std::move(inner)), factor_(factor) {
  KAON_CHECK(inner_ != nullptr, "scaled schedule: needs a schedule to wrap");
  KAON_CHECK(std::isfinite(factor) && factor > 0, "scaled schedule: factor must be > 0, got {}", factor);
}
double ScaledSchedule::lr(long long step) const { return factor_ * inner_->lr(step); }
std::string ScaledSchedule::describe() const { return fmt::format("{}x {}", factor_, inner_->describe()); }

std::unique_ptr<Schedule> scaled(std::unique_ptr<Schedule> inner, double factor) {
  return std::make_unique<ScaledSchedule>(std::move(inner), factor);
}

double lrScaleFactor(LrScaling rule, int workers) {
  KAON_CHECK(workers >= 1, "LR scaling: worker count must be >= 1, got {}", workers);
  switch (rule) {
    case LrScaling::None: return 1.0;
    case LrScaling::Linear: return static_cast<double>(workers);
    case LrScaling::Sqrt: return std::sqrt(static_cast<double>(workers));
  }
  return 1.0;
}

}  // namespace kaon::optim
