#pragma once
// Stand-alone activation layer (relu, leaky_relu, sigmoid, tanh, elu, softmax over axis 1).
#include "kaon/nn/layer.hpp"
#include "kaon/ops/kinds.hpp"

namespace kaon::nn {

class ActivationLayer : public Layer {
 public:
  // softmax: true for a softmax over axis 1 (then `kind` is ignored).
  ActivationLayer(std::string name, ops::Activation kind, double alpha = 0.0, bool softmax = false);
  std::string_view type() const override { return softmax_ ? "softmax" : ops::activationName(kind_); }
  Shape build(const std::vector<Shape>& inputShapes) override;
  Tensor forward(const std::vector<Tensor>& inputs, const ForwardContext& ctx) override;
  std::vector<Tensor> backward(const Tensor& gradOutput, const BackwardContext& ctx) override;
  void releaseSaved() override { x_ = y_ = Tensor(); }

 private:
  ops::Activation kind_;
  double alpha_;
  bool softmax_;
  Tensor x_, y_;
};

}  // namespace kaon::nn
