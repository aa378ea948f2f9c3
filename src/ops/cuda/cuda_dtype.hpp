#pragma once
// Host side of the CUDA backend's storage types: Tensor::data<T>() for the 16-bit floats, and
// the dtype dispatch of the Tensor wrappers (shared so every wrapper reports missing dtypes the
// same way and checks its launch).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "../../cuda/cuda_check.hpp"
#include "kaon/core/tensor.hpp"

namespace kaon {
template <> struct DTypeOf<__nv_bfloat16> { static constexpr DType value = DType::BFloat16; };
template <> struct DTypeOf<__half> { static constexpr DType value = DType::Float16; };
}  // namespace kaon

namespace kaon::ops::cudak {

// Which storage types an op's kernels are instantiated for.
enum class Types { Wide, All };  // Wide: float, double; All: also bf16 and fp16

// Calls f(T{}) for the C++ type T of `dtype`, then checks the launch; other dtypes are
// "not implemented: <op> for <dtype> on the cuda backend".
template <Types types = Types::All, class F>
void dispatch(const char* op, DType dtype, F&& f) {
  auto missing = [&] { return NotImplemented(fmt::format("{} for {} on the cuda backend", op, dtypeName(dtype))); };
  if (dtype == DType::Float32) {
    f(float{});
  } else if (dtype == DType::Float64) {
    f(double{});
  } else if constexpr (types == Types::All) {
    if (dtype == DType::BFloat16) f(__nv_bfloat16{});
    else if (dtype == DType::Float16) f(__half{});
    else throw missing();
  } else {
    throw missing();
  }
  KAON_CUDA_CHECK_LAUNCH();
}

template <class T>
T* ptr(const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; }

}  // namespace kaon::ops::cudak
