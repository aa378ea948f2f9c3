#pragma once
// Index views shared by the reference and CPU kernels of upsampling, padding and axis copies.
#include <array>
#include <cstdint>

#include "kaon/core/shape.hpp"

namespace kaon::ops::detail {

// An [N, C, *S] tensor (1 to 3 spatial axes) seen as [planes, D, H, W], planes = N*C; a 1-D or
// 2-D tensor gets leading spatial axes of 1 (the alignment ConvGeometry uses), so one kernel
// serves every rank.
struct Planes {
  std::int64_t planes = 0;
  std::array<std::int64_t, 3> s{1, 1, 1};
  std::int64_t volume() const { return s[0] * s[1] * s[2]; }
  std::int64_t rows() const { return planes * s[0] * s[1]; }  // rows of length s[2]
};

inline Planes planesOf(const Shape& x) {
  Planes p;
  int spatial = x.rank() - 2;
  p.planes = x[0] * x[1];
  for (int i = 0; i < spatial; ++i) p.s[3 - spatial + i] = x[2 + i];
  return p;
}

// A tensor viewed as [outer, axisSize, inner] around `axis` (0 <= axis < rank).
struct AxisView {
  std::int64_t outer = 1, size = 1, inner = 1;
};

inline AxisView axisViewOf(const Shape& x, int axis) {
  return {x.count(0, axis), x[axis], x.count(axis + 1, x.rank())};
}

}  // namespace kaon::ops::detail
