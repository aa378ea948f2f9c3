#pragma once
// Sums over a contiguous range of axes (the ECAL-sum head of the 3DGAN discriminator sums a
// shower image [N, 1, X, Y, Z] over axes 1..4).
#include "kaon/core/tensor.hpp"

namespace kaon::ops {

// y = x summed over axes [first, last] (0 <= first <= last < rank), those axes removed:
// x [N, 1, 25, 25, 25], first 1, last 4 -> y [N]. Accumulates in double.
Tensor sumAxes(const Tensor& x, int first, int last);
// dx [xShape] with dx[.., r, ..] = dy[..] for every r of the summed block (a broadcast).
Tensor sumAxesBackward(const Tensor& dy, const Shape& xShape, int first, int last);

}  // namespace kaon::ops
