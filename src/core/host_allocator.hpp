#pragma once
// Caching host allocator for CPU Storage (public switches and statistics in kaon/core/runtime.hpp).
//
// Requests are rounded up to a size class and every block is 64-byte aligned:
//   <= 4 KiB: 64-byte steps; <= 1 MiB: 512-byte steps; above: four classes per power of two
//   (at most 25 % slack, and untouched slack pages are never faulted in).
// release() puts a block on its class's free list (LIFO: the most recently used, cache-warm
// block is handed out first) unless caching is off or the idle cache would exceed its limit.
// One mutex guards everything: allocations happen per tensor, not per element, and the data
// loader's worker threads allocate and free concurrently with the training thread.
//
// Reuse safety: Storage (tensor.cpp) owns a block through a shared_ptr; it calls release() from
// its destructor, i.e. only when the last Tensor handle on that storage has gone.
#include <cstddef>

namespace kaon::detail {

struct HostBlock {
  void* ptr = nullptr;
  std::size_t classBytes = 0;  // size class when the block came from / may go to the cache; 0: exact system block
};

HostBlock hostAllocate(std::size_t bytes);        // throws kaon::Error when the system has no memory
void hostRelease(HostBlock block, std::size_t bytes) noexcept;  // `bytes`: what was requested

std::size_t hostRoundSize(std::size_t bytes);     // the size class of a request (exposed for tests)

}  // namespace kaon::detail
