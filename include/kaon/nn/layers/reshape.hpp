#pragma once
// Flatten ([N, ...] -> [N, prod]) and Reshape (to a given per-sample shape; one -1 allowed).
// Both are views: no data is copied.
#include "kaon/nn/layer.hpp"

namespace kaon::nn {

class Reshape : public Layer {
 public:
  // An empty target shape means flatten.
  Reshape(std::string name, std::vector<std::int64_t> target);
  std::string_view type() const override { return target_.empty() ? "flatten" : "reshape"; }
  Shape build(const std::vector<Shape>& inputShapes) override;
  Tensor forward(const std::vector<Tensor>& inputs, const ForwardContext& ctx) override;
  std::vector<Tensor> backward(const Tensor& gradOutput, const BackwardContext& ctx) override;

 private:
  std::vector<std::int64_t> target_;
  Shape out_;
};

}  // namespace kaon::nn
