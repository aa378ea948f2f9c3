#include "kaon/nn/layers/conv.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kaon/ops/activation.hpp"
#include "kaon/ops/conv.hpp"

namespace kaon::nn {

Conv::Conv(std::string name, ConvOptions options) : Layer(std::move(name)), options_(std::move(options)) {
  KAON_CHECK(options_.spatialRank >= 1 && options_.spatialRank <= 3, "conv layer '{}': 1 to 3 spatial axes",
             this->name());
  KAON_CHECK(options_.filters > 0, "conv layer '{}' needs filters > 0", this->name());
  KAON_CHECK(options_.kernel.size() == 1 || static_cast<int>(options_.kernel.size()) == options_.spatialRank,
             "conv layer '{}': kernel needs 1 or {} values, got {}", this->name(), options_.spatialRank,
             options_.kernel.size());
  for (int k : options_.kernel) KAON_CHECK(k >= 1, "conv layer '{}': kernel sizes must be >= 1", this->name());
  if (options_.kernel.size() == 1) options_.kernel.assign(options_.spatialRank, options_.kernel[0]);
}

std::string_view Conv::type() const {
  static const char* names[] = {"conv1d", "conv2d", "conv3d"};
  return names[options_.spatialRank - 1];
}

Shape Conv::build(const std::vector<Shape>& in) {
  const Shape& s = in[0];
  KAON_CHECK(s.rank() == options_.spatialRank + 1, "{} expects per-sample input [C, {} spatial axes], got {}", type(),
             options_.spatialRank, s.str());
  setInputShapes(in);
  std::vector<std::int64_t> wshape{options_.filters, s[0]};
  for (int k : options_.kernel) wshape.push_back(k);
  if (options_.samePadding) {
    std::vector<std::int64_t> spatial(s.dims().begin() + 1, s.dims().end());
    std::vector<std::int64_t> kernel(options_.kernel.begin(), options_.kernel.end());
    params_ = ops::samePadding(spatial, kernel, options_.stride, options_.dilation);
  } else {
    params_ = ops::ConvParams{options_.stride, options_.dilation, options_.padBegin, options_.padEnd};
  }
  weight_ = &addParameter("weight", Shape(wshape), options_.kernelInit);
  if (options_.useBias) bias_ = &addParameter("bias", Shape{options_.filters}, options_.biasInit);
  ops::ConvGeometry g = ops::convGeometry(s.prepend(1), Shape(wshape), params_);
  return g.outputShape().dropFirst();
}

Tensor Conv::forward(const std::vector<Tensor>& inputs, const ForwardContext&) {
  checkInputs(inputs);
  x_ = inputs[0];
  const Tensor& bias = bias_ ? bias_->value : Tensor();
  if (ops::activationGradFromOutput(options_.activation, options_.activationAlpha)) {
    // Bias and activation fused into the conv (one pass over y on the CPU); backward needs only y.
    z_ = Tensor();
    y_ = ops::conv(x_, weight_->value, bias, params_, options_.activation, options_.activationAlpha);
    return y_;
  }
  z_ = ops::conv(x_, weight_->value, bias, params_);
  y_ = ops::activation(options_.activation, z_, options_.activationAlpha);
  return y_;
}

std::vector<Tensor> Conv::backward(const Tensor& dy, const BackwardContext& ctx) {
  Tensor dz = options_.activation == ops::Activation::Identity
                  ? dy
                  : ops::activationBackward(options_.activation, z_.defined() ? z_ : y_, y_, dy,
                                            options_.activationAlpha);
  if (updatesParams(ctx))
    ops::convBackwardParams(x_, dz, weight_->grad, bias_ ? bias_->grad : Tensor(), 1.0, params_);
  return {ctx.needInputGrad[0] ? ops::convBackwardData(dz, weight_->value, x_.shape(), params_) : Tensor()};
}

std::string Conv::describe() const {
  std::string s = fmt::format("{}", fmt::join(options_.kernel, "x"));
  if (!options_.stride.empty()) s += fmt::format(" s{}", fmt::join(options_.stride, ","));
  if (options_.samePadding) s += " same";
  if (options_.activation != ops::Activation::Identity) s += fmt::format(", {}", ops::activationName(options_.activation));
  return s;
}

}  // namespace kaon::nn
