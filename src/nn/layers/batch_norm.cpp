#include "kaon/nn/layers/batch_norm.hpp"

#include <fmt/format.h>

#include "kaon/ops/norm.hpp"

namespace kaon::nn {

BatchNorm::BatchNorm(std::string name, BatchNormOptions options) : Layer(std::move(name)), options_(options) {
  KAON_CHECK(options_.momentum >= 0 && options_.momentum <= 1, "batch_norm '{}': momentum must be in [0, 1]",
             this->name());
  KAON_CHECK(options_.epsilon > 0, "batch_norm '{}': epsilon must be > 0", this->name());
}

Shape BatchNorm::build(const std::vector<Shape>& in) {
  KAON_CHECK(in[0].rank() >= 1, "batch_norm needs a channel axis per sample");
  setInputShapes(in);
  Shape channels{in[0][0]};
  if (options_.scale) gamma_ = &addParameter("gamma", channels, Init::Ones);
  if (options_.center) beta_ = &addParameter("beta", channels, Init::Zeros);
  runningMean_ = &addBuffer("running_mean", channels, Init::Zeros);
  runningVar_ = &addBuffer("running_var", channels, Init::Ones);
  return in[0];
}

Tensor BatchNorm::forward(const std::vector<Tensor>& inputs, const ForwardContext& ctx) {
  checkInputs(inputs);
  x_ = inputs[0];
  training_ = ctx.training;
  ops::BatchNormResult r = ops::batchNorm(x_, gamma_ ? gamma_->value : Tensor(), beta_ ? beta_->value : Tensor(),
                                          runningMean_->value, runningVar_->value, training_, options_.momentum,
                                          options_.epsilon);
  saveMean_ = r.saveMean;
  saveInvStd_ = r.saveInvStd;
  return r.y;
}

std::vector<Tensor> BatchNorm::backward(const Tensor& dy, const BackwardContext& ctx) {
  bool params = updatesParams(ctx);
  Tensor dx = ops::batchNormBackward(training_, x_, dy, gamma_ ? gamma_->value : Tensor(), saveMean_, saveInvStd_,
                                     params && gamma_ ? gamma_->grad : Tensor(),
                                     params && beta_ ? beta_->grad : Tensor(), 1.0, ctx.needInputGrad[0]);
  return {dx};
}

std::string BatchNorm::describe() const {
  return fmt::format("momentum {}, eps {}{}{}", options_.momentum, options_.epsilon, options_.scale ? "" : ", no scale",
                     options_.center ? "" : ", no center");
}

}  // namespace kaon::nn
