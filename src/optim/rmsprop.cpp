#include "kaon/optim/rmsprop.hpp"

#include "kaon/ops/optimizer_steps.hpp"

namespace kaon::optim {

Rmsprop::Rmsprop(RmspropOptions options) : options_(options) {
  KAON_CHECK(options_.rho >= 0 && options_.rho < 1, "rmsprop: rho must be in [0, 1), got {}", options_.rho);
  KAON_CHECK(options_.momentum >= 0 && options_.momentum < 1, "rmsprop: momentum must be in [0, 1), got {}",
             options_.momentum);
  KAON_CHECK(options_.eps > 0, "rmsprop: eps must be > 0, got {}", options_.eps);
  KAON_CHECK(options_.weightDecay >= 0, "rmsprop: weight_decay must be >= 0, got {}", options_.weightDecay);
}

std::vector<std::string> Rmsprop::stateNames() const {
  if (options_.momentum > 0) return {"mean_square", "velocity"};
  return {"mean_square"};
}

void Rmsprop::update(double lr, const Tensor& param, const Tensor& grad, const std::vector<Tensor>& state) {
  ops::RmspropStepArgs a;
  a.lr = lr;
  a.rho = options_.rho;
  a.eps = options_.eps;
  a.momentum = options_.momentum;
  a.weightDecay = options_.weightDecay;
  ops::rmspropStep(a, param, grad, state[0], state.size() > 1 ? state[1] : Tensor());
}

}  // namespace kaon::optim
