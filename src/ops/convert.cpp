#include "kaon/ops/convert.hpp"

#include "kaon/ops/elementwise.hpp"
#include "kernel_table.hpp"

namespace kaon::ops {

void convertInto(const Tensor& src, const Tensor& dst, double scale) {
  KAON_CHECK(src.numel() == dst.numel(), "convert: {} elements into {}", src.numel(), dst.numel());
  KAON_CHECK(src.device() == dst.device(), "convert: tensors on {} and {}", src.device().str(), dst.device().str());
  if (src.device().isCpu()) {
    // The CPU backend computes in fp32/fp64 only: Tensor::cast converts between those.
    dst.copyFrom(src.dtype() == dst.dtype() ? src : src.cast(dst.dtype()).reshape(src.shape()));
    if (scale != 1.0) scaleInPlace(dst, scale);
    return;
  }
  require(&KernelTable::convert, "convert", src.device())(src, dst, scale);
}

Tensor toDType(const Tensor& x, DType dtype, double scale) {
  if (x.dtype() == dtype && scale == 1.0) return x;
  Tensor out = Tensor::empty(x.shape(), dtype, x.device());
  convertInto(x, out, scale);
  return out;
}

}  // namespace kaon::ops
