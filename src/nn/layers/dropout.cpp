#include "kaon/nn/layers/dropout.hpp"

#include <fmt/format.h>

#include "kaon/ops/counter_rng.hpp"
#include "kaon/ops/dropout.hpp"

namespace kaon::nn {

Dropout::Dropout(std::string name, double rate) : Layer(std::move(name)), rate_(rate) {
  KAON_CHECK(rate_ >= 0.0 && rate_ < 1.0, "dropout '{}': rate must be in [0, 1), got {}", this->name(), rate_);
}

std::uint64_t Dropout::streamSeed(const ForwardContext& ctx) {
  return ops::splitMix64At(ops::splitMix64At(ctx.seed, ctx.step), static_cast<std::uint64_t>(ctx.layerIndex));
}

Shape Dropout::build(const std::vector<Shape>& in) {
  setInputShapes(in);
  return in[0];
}

Tensor Dropout::forward(const std::vector<Tensor>& inputs, const ForwardContext& ctx) {
  checkInputs(inputs);
  mask_ = Tensor();
  if (!ctx.training || rate_ == 0.0) return inputs[0];
  ops::DropoutResult r = ops::dropout(inputs[0], rate_, streamSeed(ctx));
  mask_ = r.mask;
  return r.y;
}

std::vector<Tensor> Dropout::backward(const Tensor& dy, const BackwardContext& ctx) {
  if (!ctx.needInputGrad[0]) return {Tensor()};
  return {mask_.defined() ? ops::dropoutBackward(dy, mask_) : dy};
}

std::string Dropout::describe() const { return fmt::format("rate {}", rate_); }

}  // namespace kaon::nn
