#pragma once
// Nearest-neighbour upsampling (upsample1d/2d/3d, Keras UpSampling): per-sample [C, *S] ->
// [C, S1*f1, ...], every value repeated f1 x f2 x ... times. No parameters.
#include "kaon/nn/layer.hpp"

namespace kaon::nn {

class Upsample : public Layer {
 public:
  // factors: one per spatial axis or one for all, each >= 1.
  Upsample(std::string name, int spatialRank, std::vector<int> factors);
  std::string_view type() const override;
  Shape build(const std::vector<Shape>& inputShapes) override;
  Tensor forward(const std::vector<Tensor>& inputs, const ForwardContext& ctx) override;
  std::vector<Tensor> backward(const Tensor& gradOutput, const BackwardContext& ctx) override;
  std::string describe() const override;

 private:
  int spatialRank_;
  std::vector<int> factors_;  // one per spatial axis
};

}  // namespace kaon::nn
