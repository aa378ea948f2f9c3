#include "host_allocator.hpp"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "kaon/core/error.hpp"
#include "kaon/core/runtime.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define KAON_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KAON_ASAN 1
#endif
#endif
#if KAON_ASAN
#include <sanitizer/asan_interface.h>
#define KAON_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define KAON_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define KAON_POISON(p, n) ((void)(p), (void)(n))
#define KAON_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace kaon {
namespace detail {
namespace {

constexpr std::size_t kAlignment = 64;  // one AVX-512 register, one cache line
constexpr std::size_t kTinyLimit = 4096, kTinyStep = 64;
constexpr std::size_t kSmallLimit = std::size_t{1} << 20, kSmallStep = 512;

// true/false from KAON_HOST_CACHE; the default when unset.
bool cachingFromEnvironment() {
#if KAON_ASAN
  bool fallback = false;  // ASan should see every allocation unless asked otherwise
#else
  bool fallback = true;
#endif
  const char* v = std::getenv("KAON_HOST_CACHE");
  if (!v || !*v) return fallback;
  std::string s(v);
  if (s == "1" || s == "on" || s == "true") return true;
  if (s == "0" || s == "off" || s == "false") return false;
  KAON_FAIL("KAON_HOST_CACHE='{}': expected 0/1, on/off or true/false", s);
}

std::size_t limitFromEnvironment() {
  if (const char* v = std::getenv("KAON_HOST_CACHE_LIMIT_MB"); v && *v) {
    char* end = nullptr;
    const unsigned long long mb = std::strtoull(v, &end, 10);
    KAON_CHECK(end && *end == '\0' && v[0] != '-', "KAON_HOST_CACHE_LIMIT_MB='{}': expected a number of MiB", v);
    return static_cast<std::size_t>(mb) << 20;
  }
  const long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || pageSize <= 0) return std::size_t{4} << 30;
  return static_cast<std::size_t>(pages) * static_cast<std::size_t>(pageSize) / 4;
}

struct Allocator {
  std::mutex mutex;
  std::unordered_map<std::size_t, std::vector<void*>> free;  // size class -> idle blocks, LIFO
  HostMemoryStats stats;
  bool enabled = cachingFromEnvironment();
  std::size_t limit = limitFromEnvironment();

  // Returns every idle block to the system (caller holds the lock).
  void flush() {
    for (auto& [size, blocks] : free) {
      for (void* b : blocks) {
        KAON_UNPOISON(b, size);
        std::free(b);
        stats.reservedBytes -= static_cast<std::int64_t>(size);
        stats.cachedBytes -= static_cast<std::int64_t>(size);
        ++stats.systemFrees;
      }
      blocks.clear();
    }
  }
  void* systemAllocate(std::size_t size) {
    void* p = std::aligned_alloc(kAlignment, size);
    if (!p && stats.cachedBytes > 0) {  // idle blocks of other classes may make room
      flush();
      p = std::aligned_alloc(kAlignment, size);
    }
    KAON_CHECK(p != nullptr, "out of host memory allocating {} bytes ({} in use, {} reserved)", size,
               stats.currentBytes, stats.reservedBytes);
    ++stats.systemAllocs;
    stats.reservedBytes += static_cast<std::int64_t>(size);
    return p;
  }
  void addCurrent(std::size_t size) {
    stats.currentBytes += static_cast<std::int64_t>(size);
    stats.peakBytes = std::max(stats.peakBytes, stats.currentBytes);
  }
};

Allocator& allocator() {
  static auto* a = new Allocator();  // never destroyed: static tensors are freed after static destructors
  return *a;
}

std::size_t alignUp(std::size_t bytes, std::size_t step) { return (bytes + step - 1) / step * step; }

}  // namespace

std::size_t hostRoundSize(std::size_t bytes) {
  if (bytes <= kTinyLimit) return std::max(kTinyStep, alignUp(bytes, kTinyStep));
  if (bytes <= kSmallLimit) return alignUp(bytes, kSmallStep);
  return alignUp(bytes, std::bit_floor(bytes) / 4);
}

HostBlock hostAllocate(std::size_t bytes) {
  Allocator& a = allocator();
  std::lock_guard lock(a.mutex);
  if (!a.enabled) {  // exact size (64-byte multiple): overflows hit ASan's redzone
    const std::size_t size = std::max(kAlignment, alignUp(bytes, kAlignment));
    void* p = a.systemAllocate(size);
    a.addCurrent(size);
    return {p, 0};
  }
  const std::size_t size = hostRoundSize(bytes);
  void* p = nullptr;
  if (auto it = a.free.find(size); it != a.free.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    a.stats.cachedBytes -= static_cast<std::int64_t>(size);
    ++a.stats.cacheHits;
    KAON_UNPOISON(p, bytes);
  } else {
    p = a.systemAllocate(size);
    KAON_POISON(static_cast<char*>(p) + bytes, size - bytes);  // the slack is not the caller's
  }
  a.addCurrent(size);
  return {p, size};
}

void hostRelease(HostBlock block, std::size_t bytes) noexcept {
  if (!block.ptr) return;
  Allocator& a = allocator();
  std::lock_guard lock(a.mutex);
  const std::size_t size = block.classBytes ? block.classBytes : std::max(kAlignment, alignUp(bytes, kAlignment));
  a.stats.currentBytes -= static_cast<std::int64_t>(size);
  const bool keep = a.enabled && block.classBytes != 0 &&
                    static_cast<std::size_t>(a.stats.cachedBytes) + size <= a.limit;
  if (!keep) {
    KAON_UNPOISON(block.ptr, size);
    std::free(block.ptr);
    a.stats.reservedBytes -= static_cast<std::int64_t>(size);
    ++a.stats.systemFrees;
    return;
  }
  KAON_POISON(block.ptr, size);  // use after free of a cached block is still caught under ASan
  try {
    a.free[size].push_back(block.ptr);
  } catch (...) {  // no memory for the free list itself: give the block back instead
    KAON_UNPOISON(block.ptr, size);
    std::free(block.ptr);
    a.stats.reservedBytes -= static_cast<std::int64_t>(size);
    ++a.stats.systemFrees;
    return;
  }
  a.stats.cachedBytes += static_cast<std::int64_t>(size);
}

}  // namespace detail

HostMemoryStats hostMemoryStats() {
  auto& a = detail::allocator();
  std::lock_guard lock(a.mutex);
  return a.stats;
}

void hostResetPeakMemory() {
  auto& a = detail::allocator();
  std::lock_guard lock(a.mutex);
  a.stats.peakBytes = a.stats.currentBytes;
}

void hostEmptyCache() {
  auto& a = detail::allocator();
  std::lock_guard lock(a.mutex);
  a.flush();
}

void setHostCaching(bool enabled) {
  auto& a = detail::allocator();
  std::lock_guard lock(a.mutex);
  a.enabled = enabled;
  if (!enabled) a.flush();
}

bool hostCachingEnabled() {
  auto& a = detail::allocator();
  std::lock_guard lock(a.mutex);
  return a.enabled;
}

}  // namespace kaon
