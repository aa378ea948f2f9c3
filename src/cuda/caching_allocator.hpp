#pragma once
// Caching device allocator, one pool per device.
//
// Requests are rounded up to a size class (512-byte steps below 1 MiB, then four classes per
// power of two, so at most 25% waste) and freed blocks go to that class's free list instead of
// cudaFree. Reuse is stream-ordered on the device's compute stream: every kernel, copy and memset
// of Kaon runs on that stream, so a block freed by the host while kernels still read it can be
// handed to the next allocation at once: the next user's work is queued behind the old work.
// (Work on another stream must not use Kaon storage without an event on the compute stream.)
// When cudaMalloc fails, the cache is flushed (after a device synchronisation) and it retries.
#include <cstddef>

#include "kaon/core/runtime.hpp"

namespace kaon::cuda {

void* allocate(std::size_t bytes, int device);
void release(void* ptr, int device) noexcept;
CudaMemoryStats memoryStats(int device);
void resetPeak(int device);
void emptyCache(int device);  // returns every cached (unused) block to the driver

std::size_t roundSize(std::size_t bytes);  // the size class of a request (exposed for tests)

}  // namespace kaon::cuda
