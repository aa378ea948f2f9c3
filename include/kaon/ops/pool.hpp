#pragma once
// Max and average pooling over 1, 2 or 3 spatial axes (NC[D]HW).
#include "kaon/core/tensor.hpp"
#include "kaon/ops/conv_params.hpp"
#include "kaon/ops/kinds.hpp"

namespace kaon::ops {

struct PoolResult {
  Tensor y;
  Tensor argmax;  // Int32, max pooling only: flat spatial index of each winner in its input plane
};

// p.stride defaults to the window. includePad: average pooling divides by the full window.
PoolResult pool(PoolKind kind, const Tensor& x, const std::vector<int>& window, const ConvParams& p,
                bool includePad = false);
Tensor poolBackward(PoolKind kind, const Tensor& dy, const Tensor& argmax, const Shape& xShape,
                    const std::vector<int>& window, const ConvParams& p, bool includePad = false);

}  // namespace kaon::ops
