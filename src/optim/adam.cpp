#include "kaon/optim/adam.hpp"

#include "kaon/ops/optimizer_steps.hpp"

namespace kaon::optim {

Adam::Adam(AdamOptions options) : options_(options) {
  KAON_CHECK(options_.beta1 >= 0 && options_.beta1 < 1, "{}: beta1 must be in [0, 1), got {}", name(),
             options_.beta1);
  KAON_CHECK(options_.beta2 >= 0 && options_.beta2 < 1, "{}: beta2 must be in [0, 1), got {}", name(),
             options_.beta2);
  KAON_CHECK(options_.eps > 0, "{}: eps must be > 0, got {}", name(), options_.eps);
  KAON_CHECK(options_.weightDecay >= 0, "{}: weight_decay must be >= 0, got {}", name(), options_.weightDecay);
}

std::vector<std::string> Adam::stateNames() const { return {"m", "v"}; }

void Adam::update(double lr, const Tensor& param, const Tensor& grad, const std::vector<Tensor>& state) {
  ops::AdamStepArgs a;
  a.lr = lr;
  a.beta1 = options_.beta1;
  a.beta2 = options_.beta2;
  a.eps = options_.eps;
  a.weightDecay = options_.weightDecay;
  a.decoupled = options_.decoupled;
  a.step = steps_;  // Optimizer::step() has already counted this step: 1-based
  ops::adamStep(a, param, grad, state[0], state[1]);
}

}  // namespace kaon::optim
