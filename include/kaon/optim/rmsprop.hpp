#pragma once
// RMSprop over the model's flat buffers: state "mean_square", plus "velocity" when momentum > 0.
// The update is ops::rmspropStep (torch.optim.RMSprop, non-centred; formulas in
// kaon/ops/optimizer_steps.hpp).
#include "kaon/optim/optimizer.hpp"

namespace kaon::optim {

struct RmspropOptions {
  double rho = 0.9;   // Keras' default; PyTorch calls it alpha and defaults to 0.99
  double eps = 1e-7;  // Keras' default; PyTorch uses 1e-8
  double momentum = 0.0;
  double weightDecay = 0.0;  // L2: added to the gradient
};

class Rmsprop : public Optimizer {
 public:
  // Throws kaon::Error for rho or momentum outside [0, 1), eps <= 0 or weight decay < 0.
  explicit Rmsprop(RmspropOptions options = {});
  std::string_view name() const override { return "rmsprop"; }
  const RmspropOptions& options() const { return options_; }

 protected:
  std::vector<std::string> stateNames() const override;
  void update(double lr, const Tensor& param, const Tensor& grad, const std::vector<Tensor>& state) override;

 private:
  RmspropOptions options_;
};

}  // namespace kaon::optim
