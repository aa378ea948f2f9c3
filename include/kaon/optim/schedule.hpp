#pragma once
// Learning-rate schedules: a pure function from the optimizer step index to a learning rate.
//
// Contract: `step` counts optimizer steps from 0, so the trainer calls
//   optimizer.step(schedule.lr(optimizer.stepCount()));
// and lr(0) is the rate of the very first update. Schedules hold no mutable state, so a resumed
// run (step count restored from the checkpoint) continues on the same curve, and every rank of
// a distributed run computes the same value without communicating. Epoch-based settings are
// converted to steps by the caller (see optim_config.hpp): boundaries fall on epoch starts.
#include <memory>
#include <string>

namespace kaon::optim {

class Schedule {
 public:
  virtual ~Schedule() = default;
  // Learning rate for the update with 0-based index `step` (step >= 0).
  virtual double lr(long long step) const = 0;
  // One line for logs, e.g. "cosine(lr=0.1, min_lr=0, over 1000 steps)".
  virtual std::string describe() const = 0;
};

// lr(step) = lr.
class ConstantSchedule : public Schedule {
 public:
  explicit ConstantSchedule(double lr);
  double lr(long long step) const override;
  std::string describe() const override;

 private:
  double lr_;
};

// Step decay (torch StepLR): lr(step) = lr * gamma^floor(step / everySteps).
class StepDecaySchedule : public Schedule {
 public:
  StepDecaySchedule(double lr, double gamma, long long everySteps);
  double lr(long long step) const override;
  std::string describe() const override;

 private:
  double lr_, gamma_;
  long long every_;
};

// Smooth exponential decay (Keras ExponentialDecay, staircase=false):
// lr(step) = lr * decayRate^(step / decaySteps).
class ExponentialSchedule : public Schedule {
 public:
  ExponentialSchedule(double lr, double decayRate, long long decaySteps);
  double lr(long long step) const override;
  std::string describe() const override;

 private:
  double lr_, rate_;
  long long decaySteps_;
};

// Cosine annealing over the whole run without restarts (Loshchilov & Hutter, SGDR):
// lr(step) = minLr + (lr - minLr) * (1 + cos(pi * min(step, totalSteps) / totalSteps)) / 2,
// so lr(0) = lr, lr(totalSteps/2) = (lr + minLr)/2 and it stays at minLr after totalSteps.
class CosineSchedule : public Schedule {
 public:
  CosineSchedule(double lr, double minLr, long long totalSteps);
  double lr(long long step) const override;
  std::string describe() const override;

 private:
  double lr_, minLr_;
  long long total_;
};

// Linear warm-up in front of any schedule (Goyal et al. 2017, "gradual warm-up"):
//   lr(step) = inner.lr(step) * (startFactor + (1 - startFactor) * step / warmupSteps)  for step < W
//   lr(step) = inner.lr(step)                                                           otherwise
// The inner schedule keeps counting from step 0 (its epoch boundaries and cosine horizon stay
// where they were configured, as in Goyal et al., whose decays are at absolute epochs), and
// multiplying rather than replacing means there is no jump at step W. With a constant inner
// schedule this ramps from startFactor*lr at step 0 to exactly lr at step W.
class WarmupSchedule : public Schedule {
 public:
  WarmupSchedule(std::unique_ptr<Schedule> inner, long long warmupSteps, double startFactor);
  double lr(long long step) const override;
  std::string describe() const override;

 private:
  std::unique_ptr<Schedule> inner_;
  long long warmup_;
  double start_;
};

// lr(step) = factor * inner.lr(step): every rate of the curve (min_lr included) is multiplied,
// e.g. by the distributed trainer's LR scaling rule. To scale only the peak and keep an absolute
// min_lr, pass the scaled base LR to scheduleFromConfig() instead.
class ScaledSchedule : public Schedule {
 public:
  ScaledSchedule(std::unique_ptr<Schedule> inner, double factor);
  double lr(long long step) const override;
  std::string describe() const override;

 private:
  std::unique_ptr<Schedule> inner_;
  double factor_;
};

std::unique_ptr<Schedule> scaled(std::unique_ptr<Schedule> inner, double factor);

// Learning-rate scaling with the number of data-parallel workers (global batch = workers x local):
// None -> 1, Linear -> workers (Goyal et al. 2017), Sqrt -> sqrt(workers) (Krizhevsky 2014;
// often better for Adam). workers must be >= 1.
enum class LrScaling { None, Linear, Sqrt };
double lrScaleFactor(LrScaling rule, int workers);

}  // namespace kaon::optim
