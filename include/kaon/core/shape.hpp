#pragma once
// Shape of a tensor: up to kMaxRank dimensions, stored inline (no heap allocation).
#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

namespace kaon {

class Shape {
 public:
  static constexpr int kMaxRank = 5;

  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims);
  explicit Shape(std::span<const std::int64_t> dims);
  explicit Shape(const std::vector<std::int64_t>& dims) : Shape(std::span<const std::int64_t>(dims)) {}

  int rank() const { return rank_; }
  std::int64_t operator[](int axis) const;  // negative axes count from the end
  std::int64_t& operator[](int axis);
  std::int64_t numel() const;
  // Product of dims [begin, end).
  std::int64_t count(int begin, int end) const;
  std::span<const std::int64_t> dims() const { return {dims_.data(), static_cast<std::size_t>(rank_)}; }
  std::vector<std::int64_t> vec() const { return {dims_.begin(), dims_.begin() + rank_}; }
  std::string str() const;  // "[32, 3, 64, 64]"

  Shape withDim(int axis, std::int64_t value) const;
  Shape dropFirst() const;                       // [N, C, H] -> [C, H]
  Shape prepend(std::int64_t leading) const;      // [C, H] -> [N, C, H]
  int normaliseAxis(int axis) const;              // throws for an axis outside [-rank, rank)

  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }

 private:
  std::array<std::int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

}  // namespace kaon
