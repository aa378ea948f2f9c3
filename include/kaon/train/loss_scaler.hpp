#pragma once
// Dynamic loss scaling for fp16 training (trainer.precision: fp16).
//
// The loss gradient is multiplied by scale() before backward, so small fp16 gradients do not
// flush to zero; the model divides it out when it hands gradients back in fp32. After the
// gradients are reduced, update(finite) decides the step: a gradient with inf/nan skips the
// optimizer step and halves the scale; growthInterval finite steps in a row double it.
// Ranks see the same reduced gradients, so they take the same decisions.
#include <cstdint>

#include "kaon/core/tensor.hpp"

namespace kaon::train {

struct LossScalerOptions {
  double initialScale = 65536.0;  // 2^16
  std::int64_t growthInterval = 2000;
  double growthFactor = 2.0;
  double backoffFactor = 0.5;
  double minScale = 1.0;            // never below (a model that overflows at scale 1 diverges)
  double maxScale = 16777216.0;     // 2^24
};

class LossScaler {
 public:
  explicit LossScaler(LossScalerOptions options = {});

  double scale() const { return scale_; }
  std::int64_t goodSteps() const { return goodSteps_; }    // finite steps since the last change
  std::int64_t skippedSteps() const { return skipped_; }   // steps skipped so far
  // Records the outcome of one step; returns whether the optimizer step should be applied.
  bool update(bool gradientsFinite);

  // Checkpoint state: CPU float64 [scale, goodSteps, skippedSteps].
  Tensor state() const;
  void setState(const Tensor& state);

 private:
  LossScalerOptions options_;
  double scale_;
  std::int64_t goodSteps_ = 0, skipped_ = 0;
};

}  // namespace kaon::train
