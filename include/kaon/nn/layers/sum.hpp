#pragma once
// Sum over a contiguous range of axes (Keras Lambda(K.sum(x, axis=...))): the ECAL-sum head of
// the 3DGAN discriminator, per-sample [1, X, Y, Z] -> [1] with axes [2, 3, 4]. Axes count over
// the full tensor (batch = 0, which cannot be summed); default: every per-sample axis. When
// nothing is left the per-sample output is [1]. No parameters.
#include "kaon/nn/layer.hpp"

namespace kaon::nn {

class Sum : public Layer {
 public:
  // axes: full-tensor axes (>= 1, negative from the end), contiguous; empty: all per-sample axes.
  Sum(std::string name, std::vector<int> axes);
  std::string_view type() const override { return "sum"; }
  Shape build(const std::vector<Shape>& inputShapes) override;
  Tensor forward(const std::vector<Tensor>& inputs, const ForwardContext& ctx) override;
  std::vector<Tensor> backward(const Tensor& gradOutput, const BackwardContext& ctx) override;
  std::string describe() const override;

 private:
  std::vector<int> axes_;
  int first_ = 1, last_ = 1;  // summed range, full-tensor axes
  Shape out_;
};

}  // namespace kaon::nn
