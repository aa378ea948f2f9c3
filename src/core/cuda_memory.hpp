#pragma once
// Device memory entry points, implemented in src/cuda/ when the CUDA backend is built and by
// stubs that throw otherwise. Kept narrow so core/ never includes CUDA headers.
#include <cstddef>

#include "kaon/core/device.hpp"

namespace kaon::detail {

void* cudaAllocate(std::size_t bytes, int deviceIndex);
void cudaRelease(void* ptr, int deviceIndex) noexcept;
// Copies bytes between any two devices (host<->device, device<->device); synchronous.
void cudaCopy(void* dst, Device dstDevice, const void* src, Device srcDevice, std::size_t bytes);
void cudaZero(void* ptr, std::size_t bytes, int deviceIndex);

}  // namespace kaon::detail
