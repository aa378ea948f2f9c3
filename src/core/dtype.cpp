#include "kaon/core/dtype.hpp"

#include "kaon/core/error.hpp"

namespace kaon {

std::size_t dtypeSize(DType t) {
  switch (t) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::BFloat16: return 2;
    case DType::Float16: return 2;
    case DType::Int32: return 4;
    case DType::Int64: return 8;
    case DType::UInt8: return 1;
  }
  KAON_FAIL("invalid dtype {}", static_cast<int>(t));
}

std::string_view dtypeName(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::BFloat16: return "bfloat16";
    case DType::Float16: return "float16";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::UInt8: return "uint8";
  }
  return "invalid";
}

DType dtypeFromName(std::string_view name) {
  for (DType t : {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int32,
                  DType::Int64, DType::UInt8}) {
    if (dtypeName(t) == name) return t;
  }
  KAON_FAIL("unknown dtype '{}' (expected float32, float64, bfloat16, float16, int32, int64, uint8)", name);
}

}  // namespace kaon
