#pragma once
// Concatenation, split and slicing along one axis of dense tensors. Axes count every axis of
// the tensor (the batch axis is 0); negative axes count from the end.
#include <cstdint>
#include <vector>

#include "kaon/core/tensor.hpp"

namespace kaon::ops {

// y = [x0 | x1 | ...] along `axis`; every input has the same rank, dtype, device and dims except
// on `axis`. One input returns a copy.
Tensor concat(const std::vector<Tensor>& xs, int axis);
// The backward of concat: pieces of y along `axis` with the given sizes (which must sum to
// y.dim(axis)); want[i] false (when given) leaves piece i undefined.
std::vector<Tensor> split(const Tensor& y, const std::vector<std::int64_t>& sizes, int axis,
                          const std::vector<bool>& want = {});

// x[..., begin:end, ...] along `axis` as a new tensor; 0 <= begin < end <= x.dim(axis).
Tensor sliceAxis(const Tensor& x, int axis, std::int64_t begin, std::int64_t end);
// dx [xShape]: zeros with dy written at [begin, begin + dy.dim(axis)) along `axis`.
Tensor sliceAxisBackward(const Tensor& dy, const Shape& xShape, int axis, std::int64_t begin);

}  // namespace kaon::ops
