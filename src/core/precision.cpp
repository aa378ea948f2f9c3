#include "kaon/core/precision.hpp"

#include <atomic>

#include "kaon/core/error.hpp"

namespace kaon {
namespace {
std::atomic<bool> gTf32{false};
}

std::string_view precisionName(Precision p) {
  switch (p) {
    case Precision::Fp32: return "fp32";
    case Precision::Tf32: return "tf32";
    case Precision::Bf16: return "bf16";
    case Precision::Fp16: return "fp16";
  }
  KAON_FAIL("invalid precision {}", static_cast<int>(p));
}

Precision precisionFromName(std::string_view name) {
  for (Precision p : {Precision::Fp32, Precision::Tf32, Precision::Bf16, Precision::Fp16})
    if (name == precisionName(p)) return p;
  KAON_FAIL("unknown precision '{}' (expected fp32, tf32, bf16 or fp16)", name);
}

DType computeDType(Precision p) {
  switch (p) {
    case Precision::Bf16: return DType::BFloat16;
    case Precision::Fp16: return DType::Float16;
    default: return DType::Float32;
  }
}

void setTf32Allowed(bool allowed) { gTf32.store(allowed); }
bool tf32Allowed() { return gTf32.load(); }

}  // namespace kaon
