#include "kaon/nn/layers/zero_pad.hpp"

#include <fmt/format.h>

#include "kaon/ops/resample.hpp"

namespace kaon::nn {

ZeroPad::ZeroPad(std::string name, int spatialRank, std::vector<int> before, std::vector<int> after)
    : Layer(std::move(name)), spatialRank_(spatialRank), before_(std::move(before)), after_(std::move(after)) {
  KAON_CHECK(spatialRank_ >= 1 && spatialRank_ <= 3, "zero_pad layer '{}': 1 to 3 spatial axes", this->name());
  for (auto* v : {&before_, &after_}) {
    KAON_CHECK(v->size() == 1 || static_cast<int>(v->size()) == spatialRank_,
               "zero_pad layer '{}': padding needs 1 or {} values per side, got {}", this->name(), spatialRank_,
               v->size());
    for (int p : *v) KAON_CHECK(p >= 0, "zero_pad layer '{}': padding must be >= 0", this->name());
    if (v->size() == 1) v->assign(spatialRank_, (*v)[0]);
  }
}

std::string_view ZeroPad::type() const {
  static const char* names[] = {"zero_pad1d", "zero_pad2d", "zero_pad3d"};
  return names[spatialRank_ - 1];
}

Shape ZeroPad::build(const std::vector<Shape>& in) {
  KAON_CHECK(in[0].rank() == spatialRank_ + 1, "{} expects per-sample input [C, {} spatial axes], got {}", type(),
             spatialRank_, in[0].str());
  setInputShapes(in);
  Shape out = in[0];
  for (int i = 0; i < spatialRank_; ++i) out[1 + i] += before_[i] + after_[i];
  return out;
}

Tensor ZeroPad::forward(const std::vector<Tensor>& inputs, const ForwardContext&) {
  checkInputs(inputs);
  return ops::pad(inputs[0], before_, after_);
}

std::vector<Tensor> ZeroPad::backward(const Tensor& dy, const BackwardContext& ctx) {
  if (!ctx.needInputGrad[0]) return {Tensor()};
  return {ops::padBackward(dy, inputShapes()[0].prepend(dy.dim(0)), before_)};
}

std::string ZeroPad::describe() const {
  std::string s;
  for (int i = 0; i < spatialRank_; ++i) s += fmt::format("{}[{},{}]", i ? " " : "", before_[i], after_[i]);
  return s;
}

}  // namespace kaon::nn
