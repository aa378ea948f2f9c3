#pragma once
// Inverted dropout: in training, each element is zeroed with probability `rate` and the rest are
// scaled by 1/(1-rate); in eval mode (or with rate 0) the layer is the identity.
//
// The mask comes from the counter-based generator (kaon/ops/counter_rng.hpp) with a stream seed
// derived from (ForwardContext::seed, step, layerIndex) only: replaying a step (same model seed,
// same forward step) redraws the same mask, every step and every layer draws a different one.
// Note: data-parallel ranks that share the model seed draw the same masks for their own samples.
#include "kaon/nn/layer.hpp"

namespace kaon::nn {

class Dropout : public Layer {
 public:
  Dropout(std::string name, double rate);
  std::string_view type() const override { return "dropout"; }
  Shape build(const std::vector<Shape>& inputShapes) override;
  Tensor forward(const std::vector<Tensor>& inputs, const ForwardContext& ctx) override;
  std::vector<Tensor> backward(const Tensor& gradOutput, const BackwardContext& ctx) override;
  void releaseSaved() override { mask_ = Tensor(); }
  std::string describe() const override;

  // The mask stream seed for a forward: splitMix64At(splitMix64At(seed, step), layerIndex).
  static std::uint64_t streamSeed(const ForwardContext& ctx);
  // Mask of the last training forward ([N, *shape]: 0 or 1/(1-rate)); undefined after eval.
  const Tensor& mask() const { return mask_; }

 private:
  double rate_;
  Tensor mask_;
};

}  // namespace kaon::nn
