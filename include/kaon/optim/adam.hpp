#pragma once
// Adam and AdamW over the model's flat buffers (state "m" and "v", shaped like the parameters).
// The update is ops::adamStep (formulas in kaon/ops/optimizer_steps.hpp); the bias-correction
// step t is this optimizer's stepCount() (1 on the first step), so restoring the step count
// with setStepCount() on resume continues the same sequence.
#include "kaon/optim/optimizer.hpp"

namespace kaon::optim {

struct AdamOptions {
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-7;  // Keras' default; torch.optim.Adam uses 1e-8
  double weightDecay = 0.0;
  // false: L2, wd*p added to the gradient (torch.optim.Adam).
  // true: AdamW, p *= 1 - lr*wd before the Adam update (torch.optim.AdamW; PyTorch's default
  //       weight decay there is 1e-2, applied through the factory for type `adamw`).
  bool decoupled = false;
};

class Adam : public Optimizer {
 public:
  // Throws kaon::Error for betas outside [0, 1), eps <= 0 or weight decay < 0.
  explicit Adam(AdamOptions options = {});
  std::string_view name() const override { return options_.decoupled ? "adamw" : "adam"; }
  const AdamOptions& options() const { return options_; }

 protected:
  std::vector<std::string> stateNames() const override;
  void update(double lr, const Tensor& param, const Tensor& grad, const std::vector<Tensor>& state) override;

 private:
  AdamOptions options_;
};

}  // namespace kaon::optim
