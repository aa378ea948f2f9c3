#include "kaon/nn/layers/dense.hpp"

#include "kaon/ops/activation.hpp"
#include "kaon/ops/linalg.hpp"

namespace kaon::nn {

Dense::Dense(std::string name, DenseOptions options) : Layer(std::move(name)), options_(options) {
  KAON_CHECK(options_.units > 0, "dense layer '{}' needs units > 0", this->name());
}

Shape Dense::build(const std::vector<Shape>& in) {
  KAON_CHECK(in[0].rank() == 1, "dense expects a flat input per sample, got {} (add a flatten layer)", in[0].str());
  setInputShapes(in);
  weight_ = &addParameter("weight", Shape{options_.units, in[0][0]}, options_.kernelInit);
  if (options_.useBias) bias_ = &addParameter("bias", Shape{options_.units}, options_.biasInit);
  return Shape{options_.units};
}

Tensor Dense::forward(const std::vector<Tensor>& inputs, const ForwardContext&) {
  checkInputs(inputs);
  x_ = inputs[0];
  z_ = ops::linear(x_, weight_->value, bias_ ? bias_->value : Tensor());
  y_ = options_.activation == ops::Activation::Identity ? z_
                                                        : ops::activation(options_.activation, z_, options_.activationAlpha);
  return y_;
}

std::vector<Tensor> Dense::backward(const Tensor& dy, const BackwardContext& ctx) {
  Tensor dz = options_.activation == ops::Activation::Identity
                  ? dy
                  : ops::activationBackward(options_.activation, z_, y_, dy, options_.activationAlpha);
  if (updatesParams(ctx)) ops::linearBackwardParams(x_, dz, weight_->grad, bias_ ? bias_->grad : Tensor(), 1.0);
  return {ctx.needInputGrad[0] ? ops::linearBackwardData(dz, weight_->value) : Tensor()};
}

std::string Dense::describe() const {
  return options_.activation == ops::Activation::Identity ? "" : std::string(ops::activationName(options_.activation));
}

}  // namespace kaon::nn
