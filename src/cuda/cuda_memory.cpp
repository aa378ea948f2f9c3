// Device memory entry points of core/ for the CUDA backend: the caching allocator and copies
// and memsets on the device's compute stream.
#include "../core/cuda_memory.hpp"

#include <cuda_profiler_api.h>

#include "caching_allocator.hpp"
#include "cuda_check.hpp"
#include "cuda_context.hpp"
#include "kaon/core/runtime.hpp"

namespace kaon {

bool cudaBuilt() { return true; }

int cudaDeviceCount() {
  int n = 0;
  // No driver or no device is not an error here: the answer is simply zero GPUs.
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

CudaMemoryStats cudaMemoryStats(int device) { return cuda::memoryStats(device); }
void cudaResetPeakMemory(int device) { cuda::resetPeak(device); }
void cudaEmptyCache(int device) { cuda::emptyCache(device); }
void cudaSynchronize(int device) { cuda::synchronize(device); }
void cudaProfilerRange(bool start) { KAON_CUDA_CHECK(start ? cudaProfilerStart() : cudaProfilerStop()); }

std::string cudaDeviceUuid(int device) {
  cudaDeviceProp prop{};
  KAON_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  std::string id = "GPU";
  const auto* b = reinterpret_cast<const unsigned char*>(prop.uuid.bytes);
  for (int i = 0; i < 16; ++i) id += fmt::format("{}{:02x}", (i == 0 || i == 4 || i == 6 || i == 8 || i == 10) ? "-" : "", b[i]);
  return id;
}

namespace detail {

void* cudaAllocate(std::size_t bytes, int deviceIndex) { return cuda::allocate(bytes, deviceIndex); }

void cudaRelease(void* ptr, int deviceIndex) noexcept { cuda::release(ptr, deviceIndex); }

// Synchronous: queued on the compute stream of the device involved (after the work that
// produced the source), then the host waits. Between two GPUs the source's stream is drained
// first and the copy runs on the destination's stream.
void cudaCopy(void* dst, Device dstDevice, const void* src, Device srcDevice, std::size_t bytes) {
  if (srcDevice.isCuda() && dstDevice.isCuda() && srcDevice.index != dstDevice.index)
    cuda::synchronize(srcDevice.index);
  int device = dstDevice.isCuda() ? dstDevice.index : srcDevice.index;
  cudaStream_t stream = cuda::computeStream(device);
  KAON_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream));
  KAON_CUDA_CHECK(cudaStreamSynchronize(stream));
}

// Stream-ordered: no host synchronisation.
void cudaZero(void* ptr, std::size_t bytes, int deviceIndex) {
  KAON_CUDA_CHECK(cudaMemsetAsync(ptr, 0, bytes, cuda::computeStream(deviceIndex)));
}

}  // namespace detail
}  // namespace kaon
