#pragma once
// Element-wise arithmetic and reductions over whole tensors.
#include "kaon/core/tensor.hpp"

namespace kaon::ops {

Tensor add(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
// out = alpha*a + beta*b in place of out (out may alias a or b).
void axpby(double alpha, const Tensor& a, double beta, const Tensor& b, const Tensor& out);
// a += alpha * b
void addInPlace(const Tensor& a, const Tensor& b, double alpha = 1.0);
void scaleInPlace(const Tensor& a, double alpha);

double sum(const Tensor& x);
double mean(const Tensor& x);
double sumSquares(const Tensor& x);

}  // namespace kaon::ops
