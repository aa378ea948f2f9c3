#pragma once
// Concatenation of 2 to 16 inputs along one axis (skip connections, U-Net style merges).
// Axis numbering is Keras': over the full tensor with the batch axis 0, so the default 1 is the
// channel axis of [N, C, ...]; negative axes count from the end (-1: the last axis). Axis 0
// (the batch) is rejected. Inputs must agree on every other axis.
#include "kaon/nn/layer.hpp"

namespace kaon::nn {

// Resolves a Keras-style axis for inputs of per-sample rank `perSampleRank` to an axis of the
// [N, ...] tensor in [1, perSampleRank]; throws for the batch axis or an axis out of range.
int resolveFeatureAxis(int axis, int perSampleRank, std::string_view layerType);

class Concat : public Layer {
 public:
  explicit Concat(std::string name, int axis = 1);
  std::string_view type() const override { return "concat"; }
  int minInputs() const override { return 2; }
  int maxInputs() const override { return 16; }
  Shape build(const std::vector<Shape>& inputShapes) override;
  Tensor forward(const std::vector<Tensor>& inputs, const ForwardContext& ctx) override;
  std::vector<Tensor> backward(const Tensor& gradOutput, const BackwardContext& ctx) override;
  std::string describe() const override;

 private:
  int axis_;          // as given
  int fullAxis_ = 1;  // resolved at build: axis of the [N, ...] tensor, >= 1
};

}  // namespace kaon::nn
