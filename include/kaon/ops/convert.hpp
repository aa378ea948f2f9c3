#pragma once
// Conversions between floating dtypes (fp32, fp64 everywhere; bf16 and fp16 on the CUDA
// backend): the casts of mixed-precision training.
#include "kaon/core/tensor.hpp"

namespace kaon::ops {

// dst = scale * src in dst's dtype (same numel, same device); round to nearest even.
void convertInto(const Tensor& src, const Tensor& dst, double scale = 1.0);
// A new tensor of `dtype` holding scale * x; x itself (no copy) when the dtype matches and scale is 1.
Tensor toDType(const Tensor& x, DType dtype, double scale = 1.0);

}  // namespace kaon::ops
