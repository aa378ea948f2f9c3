#include "kaon/ops/linalg.hpp"

#include "check.hpp"
#include "kaon/ops/conv.hpp"
#include "kernel_table.hpp"

namespace kaon::ops {

void gemm(bool transA, bool transB, double alpha, const Tensor& a, const Tensor& b, double beta, const Tensor& c) {
  detail::checkCompatible("gemm", {&a, &b, &c});
  KAON_CHECK(a.rank() == 2 && b.rank() == 2 && c.rank() == 2, "gemm: needs 2-D tensors, got {} {} {}",
             a.shape().str(), b.shape().str(), c.shape().str());
  std::int64_t M = transA ? a.dim(1) : a.dim(0), K = transA ? a.dim(0) : a.dim(1);
  std::int64_t Kb = transB ? b.dim(1) : b.dim(0), N = transB ? b.dim(0) : b.dim(1);
  KAON_CHECK(K == Kb && c.dim(0) == M && c.dim(1) == N, "gemm: shapes {}{} x {}{} -> {} do not match",
             a.shape().str(), transA ? "^T" : "", b.shape().str(), transB ? "^T" : "", c.shape().str());
  require(&KernelTable::gemm, "gemm", c.device())(transA, transB, alpha, a, b, beta, c);
}

Tensor matmul(const Tensor& a, const Tensor& b, bool transA, bool transB) {
  KAON_CHECK(a.rank() == 2 && b.rank() == 2, "matmul: needs 2-D tensors, got {} and {}", a.shape().str(),
             b.shape().str());
  Tensor c = Tensor::empty(Shape{transA ? a.dim(1) : a.dim(0), transB ? b.dim(0) : b.dim(1)}, a.dtype(), a.device());
  gemm(transA, transB, 1.0, a, b, 0.0, c);
  return c;
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  KAON_CHECK(x.rank() == 2 && w.rank() == 2 && x.dim(1) == w.dim(1),
             "linear: input {} does not fit weight {} (expected [N, {}])", x.shape().str(), w.shape().str(),
             w.rank() == 2 ? w.dim(1) : 0);
  Tensor y = matmul(x, w, false, true);
  if (bias.defined()) biasAdd(y, bias);
  return y;
}

Tensor linearBackwardData(const Tensor& dy, const Tensor& w) { return matmul(dy, w); }

void linearBackwardParams(const Tensor& x, const Tensor& dy, const Tensor& dw, const Tensor& db, double beta) {
  gemm(true, false, 1.0, dy, x, beta, dw);  // dw [out, in] = dy^T [out, N] * x [N, in]
  if (db.defined()) biasBackward(dy, db, beta);
}

}  // namespace kaon::ops
