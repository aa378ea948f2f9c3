#include "caching_allocator.hpp"

#include <algorithm>
#include <bit>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda_check.hpp"
#include "cuda_context.hpp"

namespace kaon::cuda {
namespace {

constexpr std::size_t kSmallStep = 512;
constexpr std::size_t kSmallLimit = std::size_t{1} << 20;

struct Pool {
  std::unordered_map<std::size_t, std::vector<void*>> free;  // size class -> cached blocks
  std::unordered_map<void*, std::size_t> live;               // block -> size class
  CudaMemoryStats stats;
};

struct Allocator {
  std::mutex mutex;
  std::vector<Pool> pools;
  Pool& pool(int device) {
    if (static_cast<int>(pools.size()) <= device) pools.resize(device + 1);
    return pools[device];
  }
};

Allocator& allocator() {
  static auto* a = new Allocator();  // never destroyed: blocks outlive static destructors
  return *a;
}

// Frees every cached block of `p` (caller holds the lock and has made the device current).
void flush(Pool& p) {
  cudaDeviceSynchronize();
  for (auto& [size, blocks] : p.free) {
    for (void* b : blocks) {
      cudaFree(b);
      p.stats.reservedBytes -= static_cast<std::int64_t>(size);
      ++p.stats.freeCount;
    }
    blocks.clear();
  }
}

}  // namespace

std::size_t roundSize(std::size_t bytes) {
  if (bytes <= kSmallLimit) return std::max(kSmallStep, (bytes + kSmallStep - 1) / kSmallStep * kSmallStep);
  std::size_t pow = std::bit_floor(bytes);  // 2^k <= bytes
  std::size_t step = pow / 4;
  return (bytes + step - 1) / step * step;
}

void* allocate(std::size_t bytes, int device) {
  if (bytes == 0) return nullptr;
  context(device);  // makes the device current and creates its stream
  std::size_t size = roundSize(bytes);
  Allocator& a = allocator();
  std::lock_guard lock(a.mutex);
  Pool& p = a.pool(device);
  void* ptr = nullptr;
  auto it = p.free.find(size);
  if (it != p.free.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
  } else {
    cudaError_t st = cudaMalloc(&ptr, size);
    if (st == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      flush(p);
      st = cudaMalloc(&ptr, size);
    }
    if (st != cudaSuccess) {
      cudaGetLastError();
      KAON_FAIL("CUDA out of memory: {} bytes on cuda:{} ({} in use, {} reserved)", size, device,
                p.stats.currentBytes, p.stats.reservedBytes);
    }
    ++p.stats.mallocCount;
    p.stats.reservedBytes += static_cast<std::int64_t>(size);
  }
  p.live.emplace(ptr, size);
  p.stats.currentBytes += static_cast<std::int64_t>(size);
  p.stats.peakBytes = std::max(p.stats.peakBytes, p.stats.currentBytes);
  return ptr;
}

void release(void* ptr, int device) noexcept {
  if (!ptr) return;
  Allocator& a = allocator();
  std::lock_guard lock(a.mutex);
  Pool& p = a.pool(device);
  auto it = p.live.find(ptr);
  if (it == p.live.end()) return;  // not ours: never happens for Storage-owned blocks
  std::size_t size = it->second;
  p.live.erase(it);
  p.stats.currentBytes -= static_cast<std::int64_t>(size);
  p.free[size].push_back(ptr);
}

CudaMemoryStats memoryStats(int device) {
  Allocator& a = allocator();
  std::lock_guard lock(a.mutex);
  return a.pool(device).stats;
}

void resetPeak(int device) {
  Allocator& a = allocator();
  std::lock_guard lock(a.mutex);
  Pool& p = a.pool(device);
  p.stats.peakBytes = p.stats.currentBytes;
}

void emptyCache(int device) {
  context(device);
  Allocator& a = allocator();
  std::lock_guard lock(a.mutex);
  flush(a.pool(device));
}

}  // namespace kaon::cuda
