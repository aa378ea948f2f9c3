#include "kaon/ops/elementwise.hpp"

#include "check.hpp"
#include "kernel_table.hpp"

namespace kaon::ops {

void axpby(double alpha, const Tensor& a, double beta, const Tensor& b, const Tensor& out) {
  detail::checkCompatible("axpby", {&a, &b, &out});
  KAON_CHECK(a.numel() == out.numel() && b.numel() == out.numel(), "axpby: sizes {} {} -> {} differ",
             a.shape().str(), b.shape().str(), out.shape().str());
  require(&KernelTable::axpby, "axpby", out.device())(alpha, a, beta, b, out);
}

Tensor add(const Tensor& a, const Tensor& b) {
  detail::checkShape("add", "b", b, a.shape());
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  axpby(1.0, a, 1.0, b, out);
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  detail::checkCompatible("mul", {&a, &b});
  detail::checkShape("mul", "b", b, a.shape());
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  require(&KernelTable::mul, "mul", a.device())(a, b, out);
  return out;
}

void addInPlace(const Tensor& a, const Tensor& b, double alpha) { axpby(1.0, a, alpha, b, a); }
void scaleInPlace(const Tensor& a, double alpha) { axpby(alpha, a, 0.0, a, a); }

double sum(const Tensor& x) { return require(&KernelTable::sumAll, "sum", x.device())(x); }
double mean(const Tensor& x) {
  KAON_CHECK(x.numel() > 0, "mean of an empty tensor");
  return sum(x) / static_cast<double>(x.numel());
}
double sumSquares(const Tensor& x) { return require(&KernelTable::sumSquares, "sum_squares", x.device())(x); }

}  // namespace kaon::ops
