#pragma once
// Zero padding (zero_pad1d/2d/3d, Keras ZeroPadding): per-sample [C, *S] -> [C, b1 + S1 + a1, ...]
// with `before` zeros ahead and `after` zeros behind on each spatial axis. No parameters.
#include "kaon/nn/layer.hpp"

namespace kaon::nn {

class ZeroPad : public Layer {
 public:
  // before/after: one value per spatial axis or one for all, each >= 0.
  ZeroPad(std::string name, int spatialRank, std::vector<int> before, std::vector<int> after);
  std::string_view type() const override;
  Shape build(const std::vector<Shape>& inputShapes) override;
  Tensor forward(const std::vector<Tensor>& inputs, const ForwardContext& ctx) override;
  std::vector<Tensor> backward(const Tensor& gradOutput, const BackwardContext& ctx) override;
  std::string describe() const override;

 private:
  int spatialRank_;
  std::vector<int> before_, after_;  // one per spatial axis
};

}  // namespace kaon::nn
