#pragma once
// Double-buffered copies of host batches to a GPU on the device's copy stream, so that the
// transfer of batch k+1 runs while the compute stream works on batch k (data::Loader fills
// page-locked host buffers, which make these copies asynchronous).
//
// Call order, per batch k:  take() -> batch k on the device;  loader.next() -> host batch k+1;
// stage(host k+1);  queue step k on the compute stream.
// Contract:
// - stage(host) queues host -> device copies on the copy stream, behind the work the compute
//   stream has queued so far (so the slot it refills, last read by batch k-1's step, and any
//   freshly allocated device memory are free). At most `slots` batches may be staged and not
//   yet taken.
// - take() returns the oldest staged batch on the device; the compute stream waits for its copy
//   (the host does not). The host buffers of batches staged before it may be reused from then
//   on (take() checks their copies have finished).
// - The returned device batch stays valid until `slots - 1` further calls of stage().
// On a CPU `device` the copies are plain synchronous ones into its own host slots (no events):
// the same contract, checkable without a GPU (the tests of BatchFeed use it).
#include <cstdint>
#include <vector>

#include "../core/device_stream.hpp"
#include "kaon/data/dataset.hpp"

namespace kaon::train {

class DeviceBatchPrefetcher {
 public:
  explicit DeviceBatchPrefetcher(Device device, int slots = 2);
  ~DeviceBatchPrefetcher();  // waits for copies in flight (host buffers may be freed after it)
  DeviceBatchPrefetcher(const DeviceBatchPrefetcher&) = delete;
  DeviceBatchPrefetcher& operator=(const DeviceBatchPrefetcher&) = delete;

  void stage(const data::Batch& host);
  const data::Batch& take();
  // Host waits for every copy queued so far (before the host buffers are released).
  void synchronize();
  // Forgets staged batches not taken (a pass that ended early); waits for their copies first.
  void discardPending();
  std::int64_t pending() const { return staged_ - taken_; }

 private:
  struct Slot {
    data::Batch full;  // device tensors with room for `capacity` samples
    data::Batch view;  // the first samples of full: the batch handed out
    std::int64_t capacity = 0;
    detail::DeviceEvent copied;  // on the copy stream, after this slot's copies
  };
  Device device_;
  std::vector<Slot> slots_;
  detail::DeviceEvent computeFence_;  // compute-stream point the copy stream waits for
  std::int64_t staged_ = 0, taken_ = 0;
};

// The batch on `device`: tensors already there are kept, the others copied (synchronously).
data::Batch batchOnDevice(const data::Batch& batch, Device device);

}  // namespace kaon::train
