// Built when the CUDA backend is not: every device entry point fails loudly.
#include "cuda_memory.hpp"
#include "device_stream.hpp"
#include "kaon/core/error.hpp"
#include "kaon/core/runtime.hpp"

namespace kaon {

bool cudaBuilt() { return false; }
int cudaDeviceCount() { return 0; }
CudaMemoryStats cudaMemoryStats(int) { return {}; }
void cudaResetPeakMemory(int) {}
void cudaEmptyCache(int) {}
void cudaSynchronize(int) {}
void cudaProfilerRange(bool) {}
std::string cudaDeviceUuid(int) { return {}; }

namespace detail {
namespace {
[[noreturn]] void noCuda() { KAON_FAIL("this Kaon build has no CUDA backend (configure with -DKAON_WITH_CUDA=ON)"); }
}  // namespace
void* cudaAllocate(std::size_t, int) { noCuda(); }
void cudaRelease(void*, int) noexcept {}
void cudaCopy(void*, Device, const void*, Device, std::size_t) { noCuda(); }
void cudaZero(void*, std::size_t, int) { noCuda(); }

DeviceEvent::DeviceEvent(int) { noCuda(); }
DeviceEvent::~DeviceEvent() = default;
DeviceEvent::DeviceEvent(DeviceEvent&&) noexcept = default;
DeviceEvent& DeviceEvent::operator=(DeviceEvent&&) noexcept = default;
void DeviceEvent::record(StreamKind) { noCuda(); }
void DeviceEvent::makeStreamWait(StreamKind) const {}
bool DeviceEvent::ready() const { return true; }
void DeviceEvent::synchronize() const {}
void cudaCopyAsync(void*, Device, const void*, Device, std::size_t, StreamKind) { noCuda(); }
void* cudaHostAllocate(std::size_t) { return nullptr; }  // plain memory instead
void cudaHostRelease(void*) noexcept {}
}  // namespace detail

}  // namespace kaon
