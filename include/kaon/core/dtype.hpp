#pragma once
// Element types. Compute kernels exist for Float32 (training) and Float64 (gradient checks);
// the CUDA backend also computes BFloat16/Float16 (mixed precision, kaon/core/precision.hpp).
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kaon {

enum class DType : std::uint8_t { Float32, Float64, BFloat16, Float16, Int32, Int64, UInt8 };

std::size_t dtypeSize(DType t);
std::string_view dtypeName(DType t);
DType dtypeFromName(std::string_view name);  // throws kaon::Error for unknown names

template <class T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::Float32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::Float64; };
template <> struct DTypeOf<std::int32_t> { static constexpr DType value = DType::Int32; };
template <> struct DTypeOf<std::int64_t> { static constexpr DType value = DType::Int64; };
template <> struct DTypeOf<std::uint8_t> { static constexpr DType value = DType::UInt8; };
template <class T> inline constexpr DType kDTypeOf = DTypeOf<T>::value;

}  // namespace kaon
