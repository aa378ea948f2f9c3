#pragma once
// Element-wise sum of two or more inputs of the same shape (skip connections).
#include "kaon/nn/layer.hpp"

namespace kaon::nn {

class Add : public Layer {
 public:
  explicit Add(std::string name) : Layer(std::move(name)) {}
  std::string_view type() const override { return "add"; }
  int minInputs() const override { return 2; }
  int maxInputs() const override { return 16; }
  Shape build(const std::vector<Shape>& inputShapes) override;
  Tensor forward(const std::vector<Tensor>& inputs, const ForwardContext& ctx) override;
  std::vector<Tensor> backward(const Tensor& gradOutput, const BackwardContext& ctx) override;
};

}  // namespace kaon::nn
