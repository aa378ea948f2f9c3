#include "kaon/optim/clip.hpp"

#include <cmath>

#include "kaon/ops/elementwise.hpp"

namespace kaon::optim {

double gradientNorm(const Tensor& grads, const Ranges& ranges) {
  KAON_CHECK(grads.defined() && grads.rank() == 1, "gradient norm: needs the flat gradient buffer");
  double sumSq = 0;  // accumulated in double by the kernels, whatever the gradient dtype
  for (auto [offset, count] : ranges) {
    KAON_CHECK(offset >= 0 && count >= 0 && offset + count <= grads.numel(),
               "gradient norm: range [{}, {}) outside a buffer of {}", offset, offset + count, grads.numel());
    if (count > 0) sumSq += ops::sumSquares(grads.slice(offset, offset + count));
  }
  return std::sqrt(sumSq);
}

double clipGradientNorm(const Tensor& grads, const Ranges& ranges, double maxNorm) {
  KAON_CHECK(maxNorm > 0, "gradient clipping: max norm must be > 0, got {}", maxNorm);
  double norm = gradientNorm(grads, ranges);
  KAON_CHECK(std::isfinite(norm),
             "gradient clipping: the gradient norm is {} (NaN or infinite gradients: the loss diverged or "
             "an input is corrupt); refusing to clip with max norm {}",
             norm, maxNorm);
  if (norm > maxNorm) {
    double scale = maxNorm / norm;
    for (auto [offset, count] : ranges)
      if (count > 0) ops::scaleInPlace(grads.slice(offset, offset + count), scale);
  }
  return norm;
}

}  // namespace kaon::optim
