#include "device_prefetcher.hpp"

namespace kaon::train {
namespace {

Tensor deviceLike(const Tensor& host, Device device) {
  return host.defined() ? Tensor::empty(host.shape(), host.dtype(), device) : Tensor();
}

Tensor firstSamples(const Tensor& t, std::int64_t count) { return t.defined() ? t.slice(0, count) : Tensor(); }

// GPU slots: asynchronous on the copy stream. Host slots (the CPU mode): a plain copy.
void copyAsync(const Tensor& dst, const Tensor& src) {
  if (!src.defined()) return;
  KAON_CHECK(dst.shape() == src.shape() && dst.dtype() == src.dtype(),
             "device prefetcher: batch layout changed ({} {} into {} {})", dtypeName(src.dtype()), src.shape().str(),
             dtypeName(dst.dtype()), dst.shape().str());
  if (dst.device().isCpu() && src.device().isCpu())
    dst.copyFrom(src);
  else
    detail::cudaCopyAsync(dst.raw(), dst.device(), src.raw(), src.device(), src.bytes(), detail::StreamKind::Copy);
}

}  // namespace

DeviceBatchPrefetcher::DeviceBatchPrefetcher(Device device, int slots) : device_(device) {
  KAON_CHECK(slots >= 2, "device prefetcher: needs at least 2 slots to overlap, got {}", slots);
  slots_.resize(static_cast<std::size_t>(slots));
  if (device.isCpu()) return;  // CPU mode: synchronous copies, no events
  computeFence_ = detail::DeviceEvent(device.index);
  for (auto& s : slots_) s.copied = detail::DeviceEvent(device.index);
}

DeviceBatchPrefetcher::~DeviceBatchPrefetcher() {
  try {
    synchronize();
  } catch (...) {
    // A failed copy already raised its error on the compute stream; nothing is left to protect.
  }
}

void DeviceBatchPrefetcher::stage(const data::Batch& host) {
  KAON_CHECK(staged_ - taken_ < static_cast<std::int64_t>(slots_.size()),
             "device prefetcher: {} batches are staged and not yet taken (at most {})", staged_ - taken_,
             slots_.size());
  Slot& slot = slots_[static_cast<std::size_t>(staged_ % static_cast<std::int64_t>(slots_.size()))];
  const std::int64_t n = host.size();
  if (slot.capacity < n) {
    // (Re)allocated from the caching allocator, whose reuse is ordered on the compute stream:
    // the fence below keeps the copy stream behind whatever last used that memory.
    slot.full = data::Batch{};
    for (const auto& t : host.inputs) slot.full.inputs.push_back(deviceLike(t, device_));
    for (const auto& t : host.targets) slot.full.targets.push_back(deviceLike(t, device_));
    slot.full.weights = deviceLike(host.weights, device_);
    slot.capacity = n;
  }
  slot.view = data::Batch{};
  for (const auto& t : slot.full.inputs) slot.view.inputs.push_back(firstSamples(t, n));
  for (const auto& t : slot.full.targets) slot.view.targets.push_back(firstSamples(t, n));
  slot.view.weights = host.weights.defined() ? firstSamples(slot.full.weights, n) : Tensor();
  if (computeFence_.valid()) {
    computeFence_.record(detail::StreamKind::Compute);
    computeFence_.makeStreamWait(detail::StreamKind::Copy);
  }
  for (std::size_t i = 0; i < host.inputs.size(); ++i) copyAsync(slot.view.inputs[i], host.inputs[i]);
  for (std::size_t i = 0; i < host.targets.size(); ++i) copyAsync(slot.view.targets[i], host.targets[i]);
  copyAsync(slot.view.weights, host.weights);
  if (slot.copied.valid()) slot.copied.record(detail::StreamKind::Copy);
  ++staged_;
}

const data::Batch& DeviceBatchPrefetcher::take() {
  KAON_CHECK(taken_ < staged_, "device prefetcher: take() without a staged batch");
  const auto count = static_cast<std::int64_t>(slots_.size());
  // Earlier batches' host buffers are about to be reused by the loader: their copies must be done
  // (they are, in practice: their steps waited for them on the compute stream).
  for (std::int64_t k = std::max<std::int64_t>(0, taken_ - count + 1); k < taken_; ++k)
    slots_[static_cast<std::size_t>(k % count)].copied.synchronize();
  Slot& slot = slots_[static_cast<std::size_t>(taken_ % count)];
  slot.copied.makeStreamWait(detail::StreamKind::Compute);
  ++taken_;
  return slot.view;
}

void DeviceBatchPrefetcher::synchronize() {
  for (auto& s : slots_) s.copied.synchronize();
}

void DeviceBatchPrefetcher::discardPending() {
  synchronize();
  taken_ = staged_;
}

data::Batch batchOnDevice(const data::Batch& b, Device device) {
  auto on = [&](const Tensor& t) { return !t.defined() || t.device() == device ? t : t.to(device); };
  data::Batch r;
  for (const auto& t : b.inputs) r.inputs.push_back(on(t));
  for (const auto& t : b.targets) r.targets.push_back(on(t));
  r.weights = on(b.weights);
  return r;
}

}  // namespace kaon::train
