#pragma once
// Process-wide runtime facts: CPU threads for kernels and the CUDA devices visible.
#include <cstdint>
#include <string>

namespace kaon {

// Threads used by CPU kernels (OpenMP and Eigen). Default: the cores this process may use.
void setNumThreads(int threads);  // threads <= 0 resets to the default
int numThreads();

// Whether this build has the CUDA backend, and how many devices it sees (0 without a GPU).
bool cudaBuilt();
int cudaDeviceCount();

// Statistics of the caching device allocator of one device (all zero without CUDA).
struct CudaMemoryStats {
  std::int64_t currentBytes = 0;   // held by live tensors (size classes, so >= requested)
  std::int64_t peakBytes = 0;      // maximum of currentBytes since start or the last reset
  std::int64_t reservedBytes = 0;  // obtained from cudaMalloc: in use + cached
  std::int64_t mallocCount = 0;    // cudaMalloc calls made
  std::int64_t freeCount = 0;      // cudaFree calls made (cache flushes)
};
CudaMemoryStats cudaMemoryStats(int device = 0);
void cudaResetPeakMemory(int device = 0);
void cudaEmptyCache(int device = 0);  // returns cached, unused blocks to the driver
// Blocks until all queued work of the device (its compute stream) has finished.
void cudaSynchronize(int device = 0);
// The UUID of the physical GPU behind `device` ("GPU-xxxxxxxx-..."): equal in every process that
// sees that GPU, whatever CUDA_VISIBLE_DEVICES renumbered. Empty without CUDA.
std::string cudaDeviceUuid(int device = 0);

}  // namespace kaon
