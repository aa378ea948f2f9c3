// Built when the CUDA backend is not: every device entry point fails loudly.
#include "cuda_memory.hpp"
#include "kaon/core/error.hpp"
#include "kaon/core/runtime.hpp"

namespace kaon {

bool cudaBuilt() { return false; }
int cudaDeviceCount() { return 0; }
CudaMemoryStats cudaMemoryStats(int) { return {}; }
void cudaResetPeakMemory(int) {}
void cudaEmptyCache(int) {}
void cudaSynchronize(int) {}

namespace detail {
namespace {
[[noreturn]] void noCuda() { KAON_FAIL("this Kaon build has no CUDA backend (configure with -DKAON_WITH_CUDA=ON)"); }
}  // namespace
void* cudaAllocate(std::size_t, int) { noCuda(); }
void cudaRelease(void*, int) noexcept {}
void cudaCopy(void*, Device, const void*, Device, std::size_t) { noCuda(); }
void cudaZero(void*, std::size_t, int) { noCuda(); }
}  // namespace detail

}  // namespace kaon
