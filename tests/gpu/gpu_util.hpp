#pragma once
// Helpers of the GPU tests: skip without a device, move tensors, compare a CUDA result with
// the CPU backend's.
#include <gtest/gtest.h>

#include "../support/test_util.hpp"
#include "kaon/core/runtime.hpp"

#define KAON_REQUIRE_GPU()                                                                  \
  do {                                                                                      \
    if (!::kaon::cudaBuilt() || ::kaon::cudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device"; \
  } while (0)

namespace kaon::gputest {

inline Device gpu() { return Device::cuda(0); }
inline Tensor toGpu(const Tensor& t) { return t.defined() ? t.to(gpu()) : Tensor(); }
inline Tensor toCpu(const Tensor& t) { return t.defined() ? t.to(Device::cpu()) : Tensor(); }

// A CUDA tensor `gpuValue` against the CPU value `cpuValue` (normalised error).
inline ::testing::AssertionResult gpuClose(const Tensor& gpuValue, const Tensor& cpuValue, double tol) {
  if (!gpuValue.device().isCuda()) return ::testing::AssertionFailure() << "result is not on the GPU";
  return testing::tensorsClose(toCpu(gpuValue), cpuValue, tol);
}
#define EXPECT_GPU_CLOSE(g, c, tol) EXPECT_TRUE(::kaon::gputest::gpuClose((g), (c), (tol)))

// FP32 tolerance: both backends sum in float in different orders (no TF32 on the GPU).
inline constexpr double kTolF32 = 1e-5;

}  // namespace kaon::gputest
