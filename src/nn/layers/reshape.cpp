#include "kaon/nn/layers/reshape.hpp"

#include <algorithm>

namespace kaon::nn {

Reshape::Reshape(std::string name, std::vector<std::int64_t> target) : Layer(std::move(name)), target_(std::move(target)) {}

Shape Reshape::build(const std::vector<Shape>& in) {
  setInputShapes(in);
  std::int64_t total = in[0].numel();
  if (target_.empty()) return out_ = Shape{total};
  KAON_CHECK(std::count(target_.begin(), target_.end(), -1) <= 1, "reshape: at most one -1 in {}", Shape(target_).str());
  std::int64_t known = 1;
  for (auto d : target_) {
    KAON_CHECK(d == -1 || d > 0, "reshape: dimensions must be positive or -1");
    if (d > 0) known *= d;
  }
  std::vector<std::int64_t> dims = target_;
  for (auto& d : dims)
    if (d == -1) d = known > 0 ? total / known : 0;
  out_ = Shape(dims);
  KAON_CHECK(out_.numel() == total, "reshape: cannot view per-sample shape {} ({} values) as {}", in[0].str(), total,
             out_.str());
  return out_;
}

Tensor Reshape::forward(const std::vector<Tensor>& inputs, const ForwardContext&) {
  checkInputs(inputs);
  return inputs[0].reshape(out_.prepend(inputs[0].dim(0)));
}

std::vector<Tensor> Reshape::backward(const Tensor& dy, const BackwardContext& ctx) {
  if (!ctx.needInputGrad[0]) return {Tensor()};
  return {dy.reshape(inputShapes()[0].prepend(dy.dim(0)))};
}

}  // namespace kaon::nn
