#include "kaon/nn/layers/conv_transpose.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kaon/ops/activation.hpp"
#include "kaon/ops/conv.hpp"

namespace kaon::nn {
namespace {

int axisValue(const std::vector<int>& v, int i, int fallback) {
  return v.empty() ? fallback : v[v.size() == 1 ? 0 : i];
}

}  // namespace

ConvTranspose::ConvTranspose(std::string name, ConvTransposeOptions options)
    : Layer(std::move(name)), options_(std::move(options)) {
  ConvOptions& c = options_.conv;
  KAON_CHECK(c.spatialRank >= 1 && c.spatialRank <= 3, "conv transpose layer '{}': 1 to 3 spatial axes", this->name());
  KAON_CHECK(c.filters > 0, "conv transpose layer '{}' needs filters > 0", this->name());
  KAON_CHECK(c.kernel.size() == 1 || static_cast<int>(c.kernel.size()) == c.spatialRank,
             "conv transpose layer '{}': kernel needs 1 or {} values, got {}", this->name(), c.spatialRank,
             c.kernel.size());
  for (int k : c.kernel) KAON_CHECK(k >= 1, "conv transpose layer '{}': kernel sizes must be >= 1", this->name());
  if (c.kernel.size() == 1) c.kernel.assign(c.spatialRank, c.kernel[0]);
  const auto& op = options_.outputPadding;
  KAON_CHECK(op.empty() || op.size() == 1 || static_cast<int>(op.size()) == c.spatialRank,
             "conv transpose layer '{}': output_padding needs 1 or {} values", this->name(), c.spatialRank);
  KAON_CHECK(op.empty() || !c.samePadding,
             "conv transpose layer '{}': output_padding needs valid or explicit padding (same gives input * stride)",
             this->name());
}

std::string_view ConvTranspose::type() const {
  static const char* names[] = {"conv1d_transpose", "conv2d_transpose", "conv3d_transpose"};
  return names[options_.conv.spatialRank - 1];
}

Shape ConvTranspose::build(const std::vector<Shape>& in) {
  const ConvOptions& c = options_.conv;
  const Shape& s = in[0];
  const int rank = c.spatialRank;
  KAON_CHECK(s.rank() == rank + 1, "{} expects per-sample input [C, {} spatial axes], got {}", type(), rank, s.str());
  setInputShapes(in);
  std::vector<std::int64_t> wshape{s[0], c.filters};
  for (int k : c.kernel) wshape.push_back(k);
  if (c.samePadding) {
    // TF/Keras: O = S * stride, padded like the "same" convolution that maps O back to S.
    std::vector<std::int64_t> out, kernel(c.kernel.begin(), c.kernel.end());
    for (int i = 0; i < rank; ++i) out.push_back(s[1 + i] * axisValue(c.stride, i, 1));
    params_ = ops::samePadding(out, kernel, c.stride, c.dilation);
    outputPadding_.clear();
    for (int i = 0; i < rank; ++i) {
      std::int64_t span = static_cast<std::int64_t>(axisValue(c.dilation, i, 1)) * (kernel[i] - 1) + 1;
      std::int64_t full = (s[1 + i] - 1) * axisValue(c.stride, i, 1) - params_.padBegin[i] - params_.padEnd[i] + span;
      outputPadding_.push_back(static_cast<int>(out[i] - full));
    }
  } else {
    params_ = ops::ConvParams{c.stride, c.dilation, c.padBegin, c.padEnd};
    outputPadding_ = options_.outputPadding;
  }
  weight_ = &addParameter("weight", Shape(wshape), c.kernelInit);
  if (c.useBias) bias_ = &addParameter("bias", Shape{c.filters}, c.biasInit);
  ops::ConvGeometry g = ops::convTransposeGeometry(s.prepend(1), Shape(wshape), params_, outputPadding_);
  return g.inputShape().dropFirst();
}

Tensor ConvTranspose::forward(const std::vector<Tensor>& inputs, const ForwardContext&) {
  checkInputs(inputs);
  const ConvOptions& c = options_.conv;
  x_ = inputs[0];
  z_ = ops::convTranspose(x_, weight_->value, bias_ ? bias_->value : Tensor(), params_, outputPadding_);
  y_ = c.activation == ops::Activation::Identity ? z_ : ops::activation(c.activation, z_, c.activationAlpha);
  return y_;
}

std::vector<Tensor> ConvTranspose::backward(const Tensor& dy, const BackwardContext& ctx) {
  const ConvOptions& c = options_.conv;
  Tensor dz = c.activation == ops::Activation::Identity ? dy
                                                        : ops::activationBackward(c.activation, z_, y_, dy, c.activationAlpha);
  if (updatesParams(ctx))
    ops::convTransposeBackwardParams(x_, dz, weight_->grad, bias_ ? bias_->grad : Tensor(), 1.0, params_);
  return {ctx.needInputGrad[0] ? ops::convTransposeBackwardData(dz, weight_->value, params_) : Tensor()};
}

std::string ConvTranspose::describe() const {
  const ConvOptions& c = options_.conv;
  std::string s = fmt::format("{}", fmt::join(c.kernel, "x"));
  if (!c.stride.empty()) s += fmt::format(" s{}", fmt::join(c.stride, ","));
  if (c.samePadding) s += " same";
  if (!outputPadding_.empty()) s += fmt::format(" op{}", fmt::join(outputPadding_, ","));
  if (c.activation != ops::Activation::Identity) s += fmt::format(", {}", ops::activationName(c.activation));
  return s;
}

}  // namespace kaon::nn
