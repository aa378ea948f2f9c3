#include "kaon/ops/activation.hpp"

#include "check.hpp"
#include "kernel_table.hpp"

namespace kaon::ops {

Tensor activation(Activation kind, const Tensor& x, double alpha) {
  detail::checkDefined("activation", "x", x);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  require(&KernelTable::activationForward, "activation", x.device())(kind, alpha, x, y);
  return y;
}

Tensor activationBackward(Activation kind, const Tensor& x, const Tensor& y, const Tensor& dy, double alpha) {
  detail::checkCompatible("activation backward", {&x, &y, &dy});
  detail::checkShape("activation backward", "dy", dy, x.shape());
  Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  require(&KernelTable::activationBackward, "activation backward", x.device())(kind, alpha, x, y, dy, dx, 0.0);
  return dx;
}

Tensor softmax(const Tensor& x) {
  KAON_CHECK(x.rank() >= 2, "softmax: needs [N, C, ...], got {}", x.shape().str());
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  require(&KernelTable::softmaxForward, "softmax", x.device())(x, y);
  return y;
}

Tensor softmaxBackward(const Tensor& y, const Tensor& dy) {
  detail::checkCompatible("softmax backward", {&y, &dy});
  detail::checkShape("softmax backward", "dy", dy, y.shape());
  Tensor dx = Tensor::empty(y.shape(), y.dtype(), y.device());
  require(&KernelTable::softmaxBackward, "softmax backward", y.device())(y, dy, dx, 0.0);
  return dx;
}

}  // namespace kaon::ops
