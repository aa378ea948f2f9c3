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
// Brackets a region for profilers started with --profile-from-start off (ncu, nsys): only the
// kernels launched between start and stop are recorded. No-op without CUDA.
void cudaProfilerRange(bool start);
// The UUID of the physical GPU behind `device` ("GPU-xxxxxxxx-..."): equal in every process that
// sees that GPU, whatever CUDA_VISIBLE_DEVICES renumbered. Empty without CUDA.
std::string cudaDeviceUuid(int device = 0);

// The caching host allocator behind CPU tensors (src/core/host_allocator.hpp). Freed blocks are
// kept in size-class free lists and handed to the next request of that class, so a training
// loop stops calling into the system (and page-faulting fresh activations) after its first
// steps. A block is reused only after the last Tensor handle on its storage is gone.
// Default: on; off when the environment sets KAON_HOST_CACHE=0 and in AddressSanitizer builds (so
// that ASan sees every allocation; KAON_HOST_CACHE=1 turns it on there too, and cached
// blocks are then poisoned while idle). KAON_HOST_CACHE_LIMIT_MB caps the idle cached bytes
// (default: a quarter of physical memory); a block freed above the cap goes back to the system.
struct HostMemoryStats {
  std::int64_t currentBytes = 0;   // held by live CPU storage (size classes when cached, so >= requested)
  std::int64_t peakBytes = 0;      // maximum of currentBytes since start or the last reset
  std::int64_t reservedBytes = 0;  // obtained from the system and not returned: in use + cached
  std::int64_t cachedBytes = 0;    // idle blocks in the free lists (reservedBytes - currentBytes)
  std::int64_t systemAllocs = 0;   // aligned_alloc calls made
  std::int64_t systemFrees = 0;    // free calls made
  std::int64_t cacheHits = 0;      // requests served from the free lists
};
HostMemoryStats hostMemoryStats();
void hostResetPeakMemory();
void hostEmptyCache();                   // returns every idle cached block to the system
void setHostCaching(bool enabled);       // false also empties the cache; thread-safe
bool hostCachingEnabled();

}  // namespace kaon
