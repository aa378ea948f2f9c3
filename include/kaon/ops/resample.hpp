#pragma once
// Nearest-neighbour upsampling and zero padding over 1, 2 or 3 spatial axes, NC[D]HW layout.
// Per-axis vectors hold one value per spatial axis (in order D, H, W of the tensor's own axes)
// or one value for all axes.
#include <vector>

#include "kaon/core/tensor.hpp"

namespace kaon::ops {

// y [N, C, S1*f1, ...] with y[n, c, o1, ...] = x[n, c, o1 / f1, ...]; x [N, C, S1, ...], factors >= 1.
Tensor upsample(const Tensor& x, const std::vector<int>& factors);
// dx [xShape]: each input element receives the sum of dy over its f1 x f2 x ... block.
Tensor upsampleBackward(const Tensor& dy, const Shape& xShape, const std::vector<int>& factors);

// y [N, C, before1 + S1 + after1, ...]: x surrounded by zeros; before/after >= 0 (after empty:
// the same as before).
Tensor pad(const Tensor& x, const std::vector<int>& before, const std::vector<int>& after = {});
// dx [xShape] = the crop of dy [N, C, before1 + S1 + after1, ...] at `before`.
Tensor padBackward(const Tensor& dy, const Shape& xShape, const std::vector<int>& before);

}  // namespace kaon::ops
