#include "kaon/nn/layers/slice.hpp"

#include <fmt/format.h>

#include "kaon/nn/layers/concat.hpp"
#include "kaon/ops/concat.hpp"

namespace kaon::nn {

Slice::Slice(std::string name, int axis, std::int64_t begin, std::optional<std::int64_t> end)
    : Layer(std::move(name)), axis_(axis), begin_(begin), end_(end) {}

Shape Slice::build(const std::vector<Shape>& in) {
  fullAxis_ = resolveFeatureAxis(axis_, in[0].rank(), type());
  const std::int64_t n = in[0][fullAxis_ - 1];
  from_ = begin_ < 0 ? begin_ + n : begin_;
  to_ = !end_ ? n : (*end_ < 0 ? *end_ + n : *end_);
  KAON_CHECK(0 <= from_ && from_ < to_ && to_ <= n, "slice [{}, {}) of axis {} (size {}) is empty or out of range",
             begin_, end_ ? fmt::format("{}", *end_) : std::string("end"), fullAxis_, n);
  setInputShapes(in);
  return in[0].withDim(fullAxis_ - 1, to_ - from_);
}

Tensor Slice::forward(const std::vector<Tensor>& inputs, const ForwardContext&) {
  checkInputs(inputs);
  return ops::sliceAxis(inputs[0], fullAxis_, from_, to_);
}

std::vector<Tensor> Slice::backward(const Tensor& dy, const BackwardContext& ctx) {
  if (!ctx.needInputGrad[0]) return {Tensor()};
  return {ops::sliceAxisBackward(dy, inputShapes()[0].prepend(dy.dim(0)), fullAxis_, from_)};
}

std::string Slice::describe() const { return fmt::format("axis {} [{}, {})", fullAxis_, from_, to_); }

}  // namespace kaon::nn
