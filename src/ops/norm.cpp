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

Tensor batchNormStatistics(const Tensor& x) {
  const char* op = "batch_norm statistics";
  detail::checkDefined(op, "x", x);
  KAON_CHECK(x.rank() >= 2, "{}: expects [N, C, ...], got {}", op, x.shape().str());
  Tensor stats = Tensor::empty(Shape{2 * x.dim(1) + 1}, DType::Float64, x.device());
  require(&KernelTable::batchNormStatistics, op, x.device())(x, stats);
  return stats;
}

BatchNormResult batchNormFromStatistics(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                        const Tensor& runningMean, const Tensor& runningVar, const Tensor& stats,
                                        double momentum, double eps) {
  const char* op = "batch_norm (replica statistics)";
  detail::checkDefined(op, "x", x);
  detail::checkDefined(op, "statistics", stats);
  detail::checkCompatible(op, {&x, &gamma, &beta, &runningMean, &runningVar});
  KAON_CHECK(x.rank() >= 2, "{}: expects [N, C, ...], got {}", op, x.shape().str());
  KAON_CHECK(eps > 0, "{}: epsilon must be > 0", op);
  KAON_CHECK(runningMean.defined() == runningVar.defined(), "{}: give both running statistics or neither", op);
  const std::int64_t C = x.dim(1);
  KAON_CHECK(stats.dtype() == DType::Float64 && stats.device() == x.device() && stats.shape() == Shape{2 * C + 1},
             "{}: statistics must be float64 [{}] on {} (from batchNormStatistics), got {} {} on {}", op, 2 * C + 1,
             x.device().str(), dtypeName(stats.dtype()), stats.shape().str(), stats.device().str());
  for (const Tensor* t : {&gamma, &beta, &runningMean, &runningVar}) checkChannelVector(op, "per-channel tensor", *t, C);
  BatchNormResult r;
  r.y = Tensor::empty(x.shape(), x.dtype(), x.device());
  r.saveMean = Tensor::empty(Shape{C}, x.dtype(), x.device());
  r.saveInvStd = Tensor::empty(Shape{C}, x.dtype(), x.device());
  require(&KernelTable::batchNormForwardFromStatistics, op, x.device())(momentum, eps, x, gamma, beta, runningMean,
                                                                        runningVar, stats, r.y, r.saveMean,
                                                                        r.saveInvStd);
  return r;
}

Tensor batchNormBackwardSums(const Tensor& x, const Tensor& dy, const Tensor& saveMean, const Tensor& saveInvStd) {
  const std::int64_t C = x.dim(1);
  Tensor sums = Tensor::empty(Shape{2, C}, x.dtype(), x.device());
  // batchNormBackward without dx computes exactly these: dbeta = sum dy, dgamma = sum dy * xhat.
  Tensor sumDy = sums.slice(0, 1).reshape(Shape{C}), sumDyXhat = sums.slice(1, 2).reshape(Shape{C});
  batchNormBackward(true, x, dy, Tensor(), saveMean, saveInvStd, sumDyXhat, sumDy, 0.0, false);
  return sums;
}

Tensor batchNormBackwardFromSums(const Tensor& x, const Tensor& dy, const Tensor& gamma, const Tensor& saveMean,
                                 const Tensor& saveInvStd, const Tensor& sums, const Tensor& stats) {
  const char* op = "batch_norm backward (replica sums)";
  detail::checkDefined(op, "x", x);
  detail::checkCompatible(op, {&x, &dy, &gamma, &saveMean, &saveInvStd, &sums});
  detail::checkShape(op, "dy", dy, x.shape());
  const std::int64_t C = x.dim(1);
  detail::checkShape(op, "sums", sums, Shape{2, C});
  checkChannelVector(op, "gamma", gamma, C);
  checkChannelVector(op, "saved mean", saveMean, C);
  checkChannelVector(op, "saved inverse std", saveInvStd, C);
  KAON_CHECK(stats.dtype() == DType::Float64 && stats.device() == x.device() && stats.shape() == Shape{2 * C + 1},
             "{}: statistics must be the forward's float64 [{}] (from batchNormStatistics)", op, 2 * C + 1);
  Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  require(&KernelTable::batchNormBackwardFromSums, op, x.device())(x, dy, gamma, saveMean, saveInvStd, sums, stats, dx);
  return dx;
}

}  // namespace kaon::ops
