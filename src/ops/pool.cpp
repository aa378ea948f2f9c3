#include "kaon/ops/pool.hpp"

#include "check.hpp"
#include "kernel_table.hpp"

namespace kaon::ops {

PoolResult pool(PoolKind kind, const Tensor& x, const std::vector<int>& window, const ConvParams& p,
                bool includePad) {
  detail::checkDefined("pool", "x", x);
  ConvGeometry g = poolGeometry(x.shape(), window, p);
  KAON_CHECK(g.inSpatial() < (std::int64_t{1} << 31), "pool: input planes over 2^31 elements are not supported");
  PoolResult r;
  r.y = Tensor::empty(g.outputShape(), x.dtype(), x.device());
  if (kind == PoolKind::Max) r.argmax = Tensor::empty(g.outputShape(), DType::Int32, x.device());
  require(&KernelTable::poolForward, "pool", x.device())(kind, includePad, x, r.y, r.argmax, g);
  return r;
}

Tensor poolBackward(PoolKind kind, const Tensor& dy, const Tensor& argmax, const Shape& xShape,
                    const std::vector<int>& window, const ConvParams& p, bool includePad) {
  ConvGeometry g = poolGeometry(xShape, window, p);
  detail::checkShape("pool backward", "dy", dy, g.outputShape());
  if (kind == PoolKind::Max) detail::checkShape("pool backward", "argmax", argmax, g.outputShape());
  Tensor dx = Tensor::empty(xShape, dy.dtype(), dy.device());
  require(&KernelTable::poolBackward, "pool backward", dy.device())(kind, includePad, dy, argmax, dx, 0.0, g);
  return dx;
}

}  // namespace kaon::ops
