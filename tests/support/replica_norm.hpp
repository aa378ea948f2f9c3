#pragma once
// Test helper: synchronised batch norm computed by hand over "replicas" that are slices of one
// batch. Runs the SyncBatchNorm op sequence of kaon/ops/norm.hpp on each slice, sums what an
// allreduce would sum, and returns the pieces' results put back together, on x's device.
#include <vector>

#include "kaon/ops/elementwise.hpp"
#include "kaon/ops/norm.hpp"

namespace kaon::testing {

struct ReplicaNormResult {
  Tensor y, dx, dgamma, dbeta, runningMean, runningVar;
};

// bounds: slice boundaries along the batch, e.g. {0, 3, 8} for two replicas of 3 and 5 samples.
inline ReplicaNormResult replicaBatchNorm(const Tensor& x, const Tensor& dy, const Tensor& gamma, const Tensor& beta,
                                          const Tensor& runningMean, const Tensor& runningVar,
                                          const std::vector<std::int64_t>& bounds, double momentum, double eps) {
  const std::size_t replicas = bounds.size() - 1;
  const std::int64_t C = x.dim(1);
  std::vector<Tensor> stats(replicas), sums(replicas);
  for (std::size_t r = 0; r < replicas; ++r) stats[r] = ops::batchNormStatistics(x.slice(bounds[r], bounds[r + 1]));
  for (std::size_t r = 1; r < replicas; ++r) ops::addInPlace(stats[0], stats[r]);  // the allreduce
  ReplicaNormResult out;
  out.y = Tensor::empty(x.shape(), x.dtype(), x.device());
  out.dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  out.dgamma = Tensor::zeros(Shape{C}, x.dtype(), x.device());
  out.dbeta = Tensor::zeros(Shape{C}, x.dtype(), x.device());
  // Every replica updates its own copy of the running statistics, identically.
  out.runningMean = runningMean.clone();
  out.runningVar = runningVar.clone();
  std::vector<ops::BatchNormResult> fwd(replicas);
  for (std::size_t r = 0; r < replicas; ++r) {
    Tensor rm = runningMean.clone(), rv = runningVar.clone();
    fwd[r] = ops::batchNormFromStatistics(x.slice(bounds[r], bounds[r + 1]), gamma, beta, rm, rv, stats[0], momentum,
                                          eps);
    out.y.slice(bounds[r], bounds[r + 1]).copyFrom(fwd[r].y);
    if (r == 0) {
      out.runningMean.copyFrom(rm);
      out.runningVar.copyFrom(rv);
    }
    sums[r] = ops::batchNormBackwardSums(x.slice(bounds[r], bounds[r + 1]), dy.slice(bounds[r], bounds[r + 1]),
                                         fwd[r].saveMean, fwd[r].saveInvStd);
    ops::addInPlace(out.dbeta, sums[r].slice(0, 1).reshape(Shape{C}));
    ops::addInPlace(out.dgamma, sums[r].slice(1, 2).reshape(Shape{C}));
  }
  Tensor total = sums[0].clone();
  for (std::size_t r = 1; r < replicas; ++r) ops::addInPlace(total, sums[r]);
  for (std::size_t r = 0; r < replicas; ++r)
    out.dx.slice(bounds[r], bounds[r + 1])
        .copyFrom(ops::batchNormBackwardFromSums(x.slice(bounds[r], bounds[r + 1]), dy.slice(bounds[r], bounds[r + 1]),
                                                 gamma, fwd[r].saveMean, fwd[r].saveInvStd, total, stats[0]));
  return out;
}

}  // namespace kaon::testing
