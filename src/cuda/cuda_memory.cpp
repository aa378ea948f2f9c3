// Device memory for the CUDA backend. Plain cudaMalloc for now; the caching allocator of the
// CUDA issue replaces cudaAllocate/cudaRelease without touching core/.
#include "../core/cuda_memory.hpp"

#include "cuda_check.hpp"
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

namespace detail {

void* cudaAllocate(std::size_t bytes, int deviceIndex) {
  KAON_CUDA_CHECK(cudaSetDevice(deviceIndex));
  void* p = nullptr;
  if (bytes > 0) KAON_CUDA_CHECK(cudaMalloc(&p, bytes));
  return p;
}

void cudaRelease(void* ptr, int deviceIndex) noexcept {
  if (!ptr) return;
  cudaSetDevice(deviceIndex);
  cudaFree(ptr);
}

void cudaCopy(void* dst, Device dstDevice, const void* src, Device srcDevice, std::size_t bytes) {
  cudaMemcpyKind kind = cudaMemcpyDefault;  // unified addressing resolves the direction
  if (dstDevice.isCuda()) KAON_CUDA_CHECK(cudaSetDevice(dstDevice.index));
  else if (srcDevice.isCuda()) KAON_CUDA_CHECK(cudaSetDevice(srcDevice.index));
  KAON_CUDA_CHECK(cudaMemcpy(dst, src, bytes, kind));
}

void cudaZero(void* ptr, std::size_t bytes, int deviceIndex) {
  KAON_CUDA_CHECK(cudaSetDevice(deviceIndex));
  KAON_CUDA_CHECK(cudaMemset(ptr, 0, bytes));
}

}  // namespace detail
}  // namespace kaon
