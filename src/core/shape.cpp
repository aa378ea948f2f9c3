#include "kaon/core/shape.hpp"

#include "kaon/core/error.hpp"

namespace kaon {

Shape::Shape(std::initializer_list<std::int64_t> dims)
    : Shape(std::span<const std::int64_t>(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const std::int64_t> dims) {
  KAON_CHECK(dims.size() <= kMaxRank, "a shape has at most {} dimensions, got {}", kMaxRank, dims.size());
  rank_ = static_cast<int>(dims.size());
  for (int i = 0; i < rank_; ++i) {
    KAON_CHECK(dims[i] >= 0, "negative dimension {} in shape", dims[i]);
    dims_[i] = dims[i];
  }
}

int Shape::normaliseAxis(int axis) const {
  int a = axis < 0 ? axis + rank_ : axis;
  KAON_CHECK(a >= 0 && a < rank_, "axis {} out of range for shape {}", axis, str());
  return a;
}

std::int64_t Shape::operator[](int axis) const { return dims_[normaliseAxis(axis)]; }
std::int64_t& Shape::operator[](int axis) { return dims_[normaliseAxis(axis)]; }

std::int64_t Shape::numel() const { return count(0, rank_); }

std::int64_t Shape::count(int begin, int end) const {
  std::int64_t n = 1;
  for (int i = begin; i < end; ++i) n *= dims_[i];
  return n;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < rank_; ++i) s += (i ? ", " : "") + std::to_string(dims_[i]);
  return s + "]";
}

Shape Shape::withDim(int axis, std::int64_t value) const {
  Shape s = *this;
  s[axis] = value;
  return s;
}

Shape Shape::dropFirst() const {
  KAON_CHECK(rank_ > 0, "cannot drop the first dimension of a scalar shape");
  return Shape(dims().subspan(1));
}

Shape Shape::prepend(std::int64_t leading) const {
  std::vector<std::int64_t> d{leading};
  d.insert(d.end(), dims().begin(), dims().end());
  return Shape(d);
}

bool Shape::operator==(const Shape& o) const {
  if (rank_ != o.rank_) return false;
  for (int i = 0; i < rank_; ++i)
    if (dims_[i] != o.dims_[i]) return false;
  return true;
}

}  // namespace kaon
