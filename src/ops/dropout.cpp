#include "kaon/ops/dropout.hpp"

#include "check.hpp"
#include "kaon/ops/elementwise.hpp"
#include "kernel_table.hpp"

namespace kaon::ops {

DropoutResult dropout(const Tensor& x, double rate, std::uint64_t seed, std::uint64_t offset) {
  detail::checkDefined("dropout", "x", x);
  KAON_CHECK(rate >= 0.0 && rate < 1.0, "dropout: rate must be in [0, 1), got {}", rate);
  DropoutResult r;
  r.y = Tensor::empty(x.shape(), x.dtype(), x.device());
  r.mask = Tensor::empty(x.shape(), x.dtype(), x.device());
  require(&KernelTable::dropoutForward, "dropout", x.device())(rate, seed, offset, x, r.y, r.mask);
  return r;
}

Tensor dropoutBackward(const Tensor& dy, const Tensor& mask) {
  detail::checkShape("dropout backward", "dy", dy, mask.shape());
  return mul(dy, mask);
}

}  // namespace kaon::ops
