#include "kaon/nn/layers/upsample.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kaon/ops/resample.hpp"

namespace kaon::nn {

Upsample::Upsample(std::string name, int spatialRank, std::vector<int> factors)
    : Layer(std::move(name)), spatialRank_(spatialRank), factors_(std::move(factors)) {
  KAON_CHECK(spatialRank_ >= 1 && spatialRank_ <= 3, "upsample layer '{}': 1 to 3 spatial axes", this->name());
  KAON_CHECK(factors_.size() == 1 || static_cast<int>(factors_.size()) == spatialRank_,
             "upsample layer '{}': size needs 1 or {} values, got {}", this->name(), spatialRank_, factors_.size());
  for (int f : factors_) KAON_CHECK(f >= 1, "upsample layer '{}': factors must be >= 1", this->name());
  if (factors_.size() == 1) factors_.assign(spatialRank_, factors_[0]);
}

std::string_view Upsample::type() const {
  static const char* names[] = {"upsample1d", "upsample2d", "upsample3d"};
  return names[spatialRank_ - 1];
}

Shape Upsample::build(const std::vector<Shape>& in) {
  KAON_CHECK(in[0].rank() == spatialRank_ + 1, "{} expects per-sample input [C, {} spatial axes], got {}", type(),
             spatialRank_, in[0].str());
  setInputShapes(in);
  Shape out = in[0];
  for (int i = 0; i < spatialRank_; ++i) out[1 + i] *= factors_[i];
  return out;
}

Tensor Upsample::forward(const std::vector<Tensor>& inputs, const ForwardContext&) {
  checkInputs(inputs);
  return ops::upsample(inputs[0], factors_);
}

std::vector<Tensor> Upsample::backward(const Tensor& dy, const BackwardContext& ctx) {
  if (!ctx.needInputGrad[0]) return {Tensor()};
  return {ops::upsampleBackward(dy, inputShapes()[0].prepend(dy.dim(0)), factors_)};
}

std::string Upsample::describe() const { return fmt::format("x{}", fmt::join(factors_, "x")); }

}  // namespace kaon::nn
