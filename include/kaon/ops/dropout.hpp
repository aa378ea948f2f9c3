#pragma once
// Inverted dropout with a counter-based mask (kaon/ops/counter_rng.hpp): element i of x (flat
// index) is kept iff counterUniform(seed, offset + i) >= rate, and kept values are scaled by
// 1/(1-rate) so that E[y] = x. The same (seed, offset) gives the same mask on every backend.
#include <cstdint>

#include "kaon/core/tensor.hpp"

namespace kaon::ops {

struct DropoutResult {
  Tensor y;     // x * mask
  Tensor mask;  // shaped like x: 0 or 1/(1-rate)
};

// 0 <= rate < 1. offset: index of x's first element in the stream (for a tensor processed in
// pieces, e.g. per device).
DropoutResult dropout(const Tensor& x, double rate, std::uint64_t seed, std::uint64_t offset = 0);
// dx = dy * mask
Tensor dropoutBackward(const Tensor& dy, const Tensor& mask);

}  // namespace kaon::ops
