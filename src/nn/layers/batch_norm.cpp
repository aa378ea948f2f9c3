#include "kaon/nn/layers/batch_norm.hpp"

#include <fmt/format.h>

#include "kaon/ops/elementwise.hpp"
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
  const Tensor gamma = gamma_ ? gamma_->value : Tensor(), beta = beta_ ? beta_->value : Tensor();
  ops::BatchNormResult r;
  replicaStats_ = Tensor();
  if (training_ && options_.sync && ctx.replicas) {
    replicaStats_ = ops::batchNormStatistics(x_);
    ctx.replicas->sum(replicaStats_);
    r = ops::batchNormFromStatistics(x_, gamma, beta, runningMean_->value, runningVar_->value, replicaStats_,
                                     options_.momentum, options_.epsilon);
  } else {
    r = ops::batchNorm(x_, gamma, beta, runningMean_->value, runningVar_->value, training_, options_.momentum,
                       options_.epsilon);
  }
  saveMean_ = r.saveMean;
  saveInvStd_ = r.saveInvStd;
  return r.y;
}

std::vector<Tensor> BatchNorm::backward(const Tensor& dy, const BackwardContext& ctx) {
  bool params = updatesParams(ctx);
  const Tensor dgamma = params && gamma_ ? gamma_->grad : Tensor(), dbeta = params && beta_ ? beta_->grad : Tensor();
  if (!replicaStats_.defined())
    return {ops::batchNormBackward(training_, x_, dy, gamma_ ? gamma_->value : Tensor(), saveMean_, saveInvStd_,
                                   dgamma, dbeta, 1.0, ctx.needInputGrad[0])};
  KAON_CHECK(ctx.replicas, "batch_norm '{}': synchronised forward but no replica reducer in backward", name());
  // gamma/beta get this replica's share (the gradient allreduce averages it like any gradient); dx needs the sums
  // over all replicas, as the statistics it differentiates came from all of them.
  Tensor sums = ops::batchNormBackwardSums(x_, dy, saveMean_, saveInvStd_);
  const std::int64_t C = sums.dim(1);
  if (dbeta.defined()) ops::addInPlace(dbeta, sums.slice(0, 1).reshape(Shape{C}));
  if (dgamma.defined()) ops::addInPlace(dgamma, sums.slice(1, 2).reshape(Shape{C}));
  // Every replica takes part in the sum, whether or not it wants dx (the calls must pair up).
  ctx.replicas->sum(sums);
  if (!ctx.needInputGrad[0]) return {Tensor()};
  return {ops::batchNormBackwardFromSums(x_, dy, gamma_ ? gamma_->value : Tensor(), saveMean_, saveInvStd_, sums,
                                         replicaStats_)};
}

std::string BatchNorm::describe() const {
  return fmt::format("momentum {}, eps {}{}{}{}", options_.momentum, options_.epsilon, options_.scale ? "" : ", no scale",
                     options_.center ? "" : ", no center", options_.sync ? "" : ", sync off");
}

}  // namespace kaon::nn
