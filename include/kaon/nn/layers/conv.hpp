#pragma once
// Convolution over 1, 2 or 3 spatial axes (conv1d/conv2d/conv3d), with fused bias and
// activation. Input [N, C, *S] -> [N, filters, *O]; weight [filters, C, *kernel].
#include "kaon/nn/layer.hpp"
#include "kaon/ops/conv_params.hpp"
#include "kaon/ops/kinds.hpp"

namespace kaon::nn {

struct ConvOptions {
  int spatialRank = 2;
  std::int64_t filters = 0;
  std::vector<int> kernel;  // one value per spatial axis (or one for all)
  std::vector<int> stride;
  std::vector<int> dilation;
  bool samePadding = false;        // TF/Keras "same" (extra row at the end for even kernels)
  std::vector<int> padBegin, padEnd;  // explicit padding when not "same"
  ops::Activation activation = ops::Activation::Identity;
  double activationAlpha = 0.0;
  bool useBias = true;
  Init kernelInit = Init::GlorotUniform;
  Init biasInit = Init::Zeros;
};

class Conv : public Layer {
 public:
  Conv(std::string name, ConvOptions options);
  std::string_view type() const override;
  Shape build(const std::vector<Shape>& inputShapes) override;
  Tensor forward(const std::vector<Tensor>& inputs, const ForwardContext& ctx) override;
  std::vector<Tensor> backward(const Tensor& gradOutput, const BackwardContext& ctx) override;
  void releaseSaved() override { x_ = z_ = y_ = Tensor(); }
  std::string describe() const override;
  const ops::ConvParams& params() const { return params_; }

 private:
  ConvOptions options_;
  ops::ConvParams params_;  // resolved at build (same padding depends on the input size)
  Parameter* weight_ = nullptr;
  Parameter* bias_ = nullptr;
  Tensor x_, z_, y_;  // z_ (pre-activation) only when the activation gradient needs it, see forward()
};

}  // namespace kaon::nn
