#pragma once
// Matrix products and the fully connected (linear) op. PyTorch weight layout: [out, in].
#include "kaon/core/tensor.hpp"

namespace kaon::ops {

// C = alpha * op(A) * op(B) + beta * C for 2-D tensors; C must be allocated.
void gemm(bool transA, bool transB, double alpha, const Tensor& a, const Tensor& b, double beta, const Tensor& c);
// Returns op(A) * op(B).
Tensor matmul(const Tensor& a, const Tensor& b, bool transA = false, bool transB = false);

// y [N, out] = x [N, in] * w^T + bias; bias [out] may be undefined.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias);
// Gradients of linear: dx is returned (when wanted); dw and db accumulate with `beta`.
Tensor linearBackwardData(const Tensor& dy, const Tensor& w);
void linearBackwardParams(const Tensor& x, const Tensor& dy, const Tensor& dw, const Tensor& db, double beta);

}  // namespace kaon::ops
