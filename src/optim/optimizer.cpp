#include "kaon/optim/optimizer.hpp"

#include "kaon/ops/optimizer_steps.hpp"

namespace kaon::optim {

void Optimizer::attach(const Tensor& params, const Tensor& grads, Ranges trainable) {
  KAON_CHECK(params.defined() && grads.defined() && params.shape() == grads.shape() && params.rank() == 1,
             "optimizer needs flat parameter and gradient buffers of one size");
  for (auto [offset, count] : trainable)
    KAON_CHECK(offset >= 0 && count >= 0 && offset + count <= params.numel(), "trainable range [{}, {}) out of bounds",
               offset, offset + count);
  params_ = params;
  grads_ = grads;
  ranges_ = std::move(trainable);
  state_.clear();
  for (const auto& n : stateNames()) state_.emplace_back(n, Tensor::zeros(params.shape(), params.dtype(), params.device()));
}

void Optimizer::step(double lr) {
  KAON_CHECK(params_.defined(), "optimizer {}: step() before attach()", name());
  ++steps_;
  for (auto [offset, count] : ranges_) {
    std::vector<Tensor> state;
    for (auto& [n, t] : state_) state.push_back(t.slice(offset, offset + count));
    update(lr, params_.slice(offset, offset + count), grads_.slice(offset, offset + count), state);
  }
}

std::vector<std::pair<std::string, Tensor>> Optimizer::state() const { return state_; }

Sgd::Sgd(SgdOptions options) : options_(options) {
  KAON_CHECK(options_.momentum >= 0 && options_.momentum < 1, "sgd: momentum must be in [0, 1), got {}",
             options_.momentum);
  KAON_CHECK(!options_.nesterov || options_.momentum > 0, "sgd: nesterov needs momentum > 0");
  KAON_CHECK(options_.weightDecay >= 0, "sgd: weight_decay must be >= 0");
}

std::vector<std::string> Sgd::stateNames() const {
  return options_.momentum > 0 ? std::vector<std::string>{"velocity"} : std::vector<std::string>{};
}

void Sgd::update(double lr, const Tensor& param, const Tensor& grad, const std::vector<Tensor>& state) {
  ops::SgdStepArgs a{lr, options_.momentum, options_.weightDecay, options_.nesterov};
  ops::sgdStep(a, param, grad, state.empty() ? Tensor() : state[0]);
}

}  // namespace kaon::optim
