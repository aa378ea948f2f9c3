#include "kaon/nn/layers/activation.hpp"

#include "kaon/ops/activation.hpp"

namespace kaon::nn {

ActivationLayer::ActivationLayer(std::string name, ops::Activation kind, double alpha, bool softmax)
    : Layer(std::move(name)), kind_(kind), alpha_(alpha), softmax_(softmax) {}

Shape ActivationLayer::build(const std::vector<Shape>& in) {
  KAON_CHECK(!softmax_ || in[0].rank() >= 1, "softmax needs at least one axis per sample");
  setInputShapes(in);
  return in[0];
}

Tensor ActivationLayer::forward(const std::vector<Tensor>& inputs, const ForwardContext&) {
  checkInputs(inputs);
  x_ = inputs[0];
  y_ = softmax_ ? ops::softmax(x_) : ops::activation(kind_, x_, alpha_);
  return y_;
}

std::vector<Tensor> ActivationLayer::backward(const Tensor& dy, const BackwardContext& ctx) {
  if (!ctx.needInputGrad[0]) return {Tensor()};
  return {softmax_ ? ops::softmaxBackward(y_, dy) : ops::activationBackward(kind_, x_, y_, dy, alpha_)};
}

}  // namespace kaon::nn
