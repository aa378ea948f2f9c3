// Caching pool of page-locked host memory (cudaHostAlloc is slow: milliseconds, growing with
// the size, so staging buffers and loader batches are recycled). Same size classes as the
// device allocator; blocks are kept until the process ends.
#include <cuda_runtime.h>

#include <mutex>
#include <unordered_map>
#include <vector>

#include "../core/device_stream.hpp"
#include "caching_allocator.hpp"

namespace kaon::detail {
namespace {

struct HostPool {
  std::mutex mutex;
  std::unordered_map<std::size_t, std::vector<void*>> free;  // size class -> cached blocks
  std::unordered_map<void*, std::size_t> live;
  bool unavailable = false;  // cudaHostAlloc failed once for lack of a driver/device: stop asking
};

HostPool& pool() {
  static auto* p = new HostPool();  // never destroyed: blocks outlive static destructors
  return *p;
}

}  // namespace

void* cudaHostAllocate(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  HostPool& p = pool();
  const std::size_t size = cuda::roundSize(bytes);
  std::lock_guard lock(p.mutex);
  if (p.unavailable) return nullptr;
  void* ptr = nullptr;
  auto it = p.free.find(size);
  if (it != p.free.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
  } else {
    cudaError_t st = cudaHostAlloc(&ptr, size, cudaHostAllocPortable);
    if (st != cudaSuccess) {
      cudaGetLastError();  // clear the sticky-free error state of the runtime
      if (st == cudaErrorNoDevice || st == cudaErrorInsufficientDriver || st == cudaErrorInitializationError)
        p.unavailable = true;
      return nullptr;  // the caller falls back to pageable memory
    }
  }
  p.live.emplace(ptr, size);
  return ptr;
}

void cudaHostRelease(void* ptr) noexcept {
  if (!ptr) return;
  HostPool& p = pool();
  std::lock_guard lock(p.mutex);
  auto it = p.live.find(ptr);
  if (it == p.live.end()) return;
  p.free[it->second].push_back(ptr);
  p.live.erase(it);
}

}  // namespace kaon::detail
