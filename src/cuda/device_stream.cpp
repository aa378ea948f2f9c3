// Events and asynchronous copies of src/core/device_stream.hpp on the CUDA backend.
#include "../core/device_stream.hpp"

#include <utility>

#include "cuda_check.hpp"
#include "cuda_context.hpp"

namespace kaon::detail {
namespace {

cudaStream_t streamOf(int device, StreamKind kind) {
  return kind == StreamKind::Compute ? cuda::computeStream(device) : cuda::copyStream(device);
}
cudaEvent_t asEvent(void* e) { return static_cast<cudaEvent_t>(e); }

}  // namespace

DeviceEvent::DeviceEvent(int device) : device_(device) {
  cuda::context(device);
  cudaEvent_t e = nullptr;
  KAON_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  event_ = e;
}

DeviceEvent::~DeviceEvent() {
  if (event_) cudaEventDestroy(asEvent(event_));
}

DeviceEvent::DeviceEvent(DeviceEvent&& o) noexcept
    : event_(std::exchange(o.event_, nullptr)), device_(o.device_), recorded_(std::exchange(o.recorded_, false)) {}

DeviceEvent& DeviceEvent::operator=(DeviceEvent&& o) noexcept {
  if (this != &o) {
    if (event_) cudaEventDestroy(asEvent(event_));
    event_ = std::exchange(o.event_, nullptr);
    device_ = o.device_;
    recorded_ = std::exchange(o.recorded_, false);
  }
  return *this;
}

void DeviceEvent::record(StreamKind stream) {
  KAON_CHECK(event_, "record on an empty device event");
  KAON_CUDA_CHECK(cudaEventRecord(asEvent(event_), streamOf(device_, stream)));
  recorded_ = true;
}

void DeviceEvent::makeStreamWait(StreamKind stream) const {
  if (!recorded_) return;
  KAON_CUDA_CHECK(cudaStreamWaitEvent(streamOf(device_, stream), asEvent(event_), 0));
}

bool DeviceEvent::ready() const {
  if (!recorded_) return true;
  cudaError_t st = cudaEventQuery(asEvent(event_));
  if (st == cudaErrorNotReady) return false;
  KAON_CUDA_CHECK(st);
  return true;
}

void DeviceEvent::synchronize() const {
  if (recorded_) KAON_CUDA_CHECK(cudaEventSynchronize(asEvent(event_)));
}

void cudaCopyAsync(void* dst, Device dstDevice, const void* src, Device srcDevice, std::size_t bytes,
                   StreamKind stream) {
  if (bytes == 0) return;
  KAON_CHECK(dstDevice.isCuda() || srcDevice.isCuda(), "cudaCopyAsync: neither side is a GPU");
  const int device = dstDevice.isCuda() ? dstDevice.index : srcDevice.index;
  KAON_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, streamOf(device, stream)));
}

}  // namespace kaon::detail
