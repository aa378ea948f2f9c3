#pragma once
// CUDA streams, events, asynchronous copies and pinned host memory for code outside src/cuda/
// (core, data, train, comm) without CUDA headers. Implemented in src/cuda/device_stream.cpp;
// without the CUDA backend, src/core/cuda_stub.cpp throws (pinned memory: plain memory).
//
// Streams of a device: Compute (every kernel, library call and synchronous copy of Kaon) and
// Copy (asynchronous host<->device transfers that overlap compute, e.g. the next batch).
// Communication streams belong to their communicator (src/comm/nccl_communicator.cpp).
#include <cstddef>
#include <cstdint>

#include "kaon/core/device.hpp"

namespace kaon::detail {

enum class StreamKind : std::uint8_t { Compute, Copy };

// A CUDA event (timing disabled) of one device. Move-only; destroying it while recorded work
// is pending is safe (CUDA releases the event when that work completes).
class DeviceEvent {
 public:
  DeviceEvent() = default;
  explicit DeviceEvent(int device);
  ~DeviceEvent();
  DeviceEvent(DeviceEvent&& o) noexcept;
  DeviceEvent& operator=(DeviceEvent&& o) noexcept;
  DeviceEvent(const DeviceEvent&) = delete;
  DeviceEvent& operator=(const DeviceEvent&) = delete;

  bool valid() const { return event_ != nullptr; }
  bool recorded() const { return recorded_; }
  // Captures the work queued on `stream` of this event's device so far.
  void record(StreamKind stream);
  // `stream` waits (on the device, the host does not block) for the captured work. No-op when
  // nothing was recorded.
  void makeStreamWait(StreamKind stream) const;
  // Host side: whether the captured work has finished (true when nothing was recorded).
  bool ready() const;
  // Host waits for the captured work.
  void synchronize() const;

 private:
  void* event_ = nullptr;  // cudaEvent_t
  int device_ = 0;
  bool recorded_ = false;
};

// Asynchronous copy of `bytes` between host and device (or two devices) queued on `stream` of
// the GPU involved (the destination's when both are GPUs). Truly asynchronous only from or to
// pinned host memory; the host buffer must stay untouched until an event recorded after it on
// that stream has completed.
void cudaCopyAsync(void* dst, Device dstDevice, const void* src, Device srcDevice, std::size_t bytes,
                   StreamKind stream);

// Page-locked host memory from a caching pool (size classes like the device allocator's).
// Returns nullptr when none can be had (no driver, no device): callers fall back to plain
// memory. A released block may be handed out again at once: whoever queued an asynchronous
// copy from or to it keeps it alive until that copy has completed.
void* cudaHostAllocate(std::size_t bytes);
void cudaHostRelease(void* ptr) noexcept;

}  // namespace kaon::detail
