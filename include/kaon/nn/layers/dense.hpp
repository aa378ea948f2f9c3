#pragma once
// Dense (fully connected): y = act(x W^T + b), x [N, in] -> [N, units]; W [units, in].
#include "kaon/nn/layer.hpp"
#include "kaon/ops/kinds.hpp"

namespace kaon::nn {

struct DenseOptions {
  std::int64_t units = 0;
  ops::Activation activation = ops::Activation::Identity;
  double activationAlpha = 0.0;
  bool useBias = true;
  Init kernelInit = Init::GlorotUniform;
  Init biasInit = Init::Zeros;
};

class Dense : public Layer {
 public:
  Dense(std::string name, DenseOptions options);
  std::string_view type() const override { return "dense"; }
  Shape build(const std::vector<Shape>& inputShapes) override;
  Tensor forward(const std::vector<Tensor>& inputs, const ForwardContext& ctx) override;
  std::vector<Tensor> backward(const Tensor& gradOutput, const BackwardContext& ctx) override;
  void releaseSaved() override { x_ = z_ = y_ = Tensor(); }
  std::string describe() const override;

 private:
  DenseOptions options_;
  Parameter* weight_ = nullptr;
  Parameter* bias_ = nullptr;
  Tensor x_, z_, y_;  // input, pre-activation, output
};

}  // namespace kaon::nn
