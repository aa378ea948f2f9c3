#pragma once
// Transposed convolution (conv1d/2d/3d_transpose), with fused bias and activation: the adjoint of
// a convolution, used to upsample. Per-sample [C, *S] -> [filters, *O]; weight [C, filters,
// *kernel] (PyTorch layout), bias [filters].
//   valid/explicit padding (PyTorch semantics, padding crops the full output):
//     O = (S - 1) * stride - padBefore - padAfter + dilation * (kernel - 1) + 1 + outputPadding
//   same (TF/Keras): O = S * stride; the padding is that of the "same" convolution from O back
//     to S. output_padding cannot be combined with same.
#include "kaon/nn/layers/conv.hpp"

namespace kaon::nn {

struct ConvTransposeOptions {
  ConvOptions conv;                // filters, kernel, stride, dilation, padding, activation, bias, inits
  std::vector<int> outputPadding;  // one per spatial axis or one for all; each < max(stride, dilation)
};

class ConvTranspose : public Layer {
 public:
  ConvTranspose(std::string name, ConvTransposeOptions options);
  std::string_view type() const override;
  Shape build(const std::vector<Shape>& inputShapes) override;
  Tensor forward(const std::vector<Tensor>& inputs, const ForwardContext& ctx) override;
  std::vector<Tensor> backward(const Tensor& gradOutput, const BackwardContext& ctx) override;
  void releaseSaved() override { x_ = z_ = y_ = Tensor(); }
  std::string describe() const override;

 private:
  ConvTransposeOptions options_;
  ops::ConvParams params_;         // resolved at build: the conv from the output back to the input
  std::vector<int> outputPadding_;  // resolved at build
  Parameter* weight_ = nullptr;
  Parameter* bias_ = nullptr;
  Tensor x_, z_, y_;  // input, pre-activation, output
};

}  // namespace kaon::nn
