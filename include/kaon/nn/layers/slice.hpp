#pragma once
// Takes [begin, end) along one axis (e.g. channel 0 of an image for a residual connection).
// Axis numbering as in Concat: over the full tensor with the batch axis 0 (rejected), negative
// counts from the end. begin/end follow Python: negative values count from the end of the axis,
// an absent end means the end of the axis. The slice must not be empty.
#include <optional>

#include "kaon/nn/layer.hpp"

namespace kaon::nn {

class Slice : public Layer {
 public:
  Slice(std::string name, int axis, std::int64_t begin, std::optional<std::int64_t> end = std::nullopt);
  std::string_view type() const override { return "slice"; }
  Shape build(const std::vector<Shape>& inputShapes) override;
  Tensor forward(const std::vector<Tensor>& inputs, const ForwardContext& ctx) override;
  std::vector<Tensor> backward(const Tensor& gradOutput, const BackwardContext& ctx) override;
  std::string describe() const override;

 private:
  int axis_;
  std::int64_t begin_;
  std::optional<std::int64_t> end_;
  int fullAxis_ = 1;                   // resolved at build
  std::int64_t from_ = 0, to_ = 0;     // resolved at build
};

}  // namespace kaon::nn
