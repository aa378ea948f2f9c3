#include "kaon/ops/norm.hpp"

#include "check.hpp"
#include "kernel_table.hpp"

namespace kaon::ops {
namespace {

void checkChannelVector(const char* op, const char* what, const Tensor& t, std::int64_t channels) {
  if (t.defined()) detail::checkShape(op, what, t, Shape{channels});
}

}  // namespace

BatchNormResult batchNorm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& runningMean,
                          const Tensor& runningVar, bool training, double momentum, double eps) {
  const char* op = "batch_norm";
  detail::checkDefined(op, "x", x);
  detail::checkCompatible(op, {&x, &gamma, &beta, &runningMean, &runningVar});
  KAON_CHECK(x.rank() >= 2, "{}: expects [N, C, ...], got {}", op, x.shape().str());
  KAON_CHECK(eps > 0, "{}: epsilon must be > 0", op);
  KAON_CHECK(momentum >= 0 && momentum <= 1, "{}: momentum must be in [0, 1], got {}", op, momentum);
  KAON_CHECK(runningMean.defined() == runningVar.defined(), "{}: give both running statistics or neither", op);
  if (!training) KAON_CHECK(runningMean.defined(), "{}: eval mode needs the running statistics", op);
  std::int64_t C = x.dim(1);
  checkChannelVector(op, "gamma", gamma, C);
  checkChannelVector(op, "beta", beta, C);
  checkChannelVector(op, "running mean", runningMean, C);
  checkChannelVector(op, "running var", runningVar, C);
  BatchNormResult r;
  r.y = Tensor::empty(x.shape(), x.dtype(), x.device());
  r.saveMean = Tensor::empty(Shape{C}, x.dtype(), x.device());
  r.saveInvStd = Tensor::empty(Shape{C}, x.dtype(), x.device());
  require(&KernelTable::batchNormForward, op, x.device())(training, momentum, eps, x, gamma, beta, runningMean,
                                                          runningVar, r.y, r.saveMean, r.saveInvStd);
  return r;
}

Tensor batchNormBackward(bool training, const Tensor& x, const Tensor& dy, const Tensor& gamma,
                         const Tensor& saveMean, const Tensor& saveInvStd, const Tensor& dgamma, const Tensor& dbeta,
                         double betaAcc, bool wantDx) {
  const char* op = "batch_norm backward";
  detail::checkDefined(op, "x", x);
  detail::checkDefined(op, "saved mean", saveMean);
  detail::checkDefined(op, "saved inverse std", saveInvStd);
  detail::checkCompatible(op, {&x, &dy, &gamma, &saveMean, &saveInvStd, &dgamma, &dbeta});
  detail::checkShape(op, "dy", dy, x.shape());
  std::int64_t C = x.dim(1);
  checkChannelVector(op, "gamma", gamma, C);
  checkChannelVector(op, "saved mean", saveMean, C);
  checkChannelVector(op, "saved inverse std", saveInvStd, C);
  checkChannelVector(op, "dgamma", dgamma, C);
  checkChannelVector(op, "dbeta", dbeta, C);
  Tensor dx = wantDx ? Tensor::empty(x.shape(), x.dtype(), x.device()) : Tensor();
  require(&KernelTable::batchNormBackward, op, x.device())(training, x, dy, gamma, saveMean, saveInvStd, dx, dgamma,
                                                           dbeta, betaAcc);
  return dx;
}

}  // namespace kaon::ops
