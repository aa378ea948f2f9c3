#include "kaon/data/loader.hpp"

#include <fmt/format.h>

#include <span>

namespace kaon::data {
namespace {

// The dataset's batch layout, in page-locked memory.
Batch pinnedBatch(const Dataset& dataset, std::int64_t n) {
  Batch b = dataset.allocateBatch(n);
  auto pin = [](Tensor& t) { t = Tensor::emptyPinned(t.shape(), t.dtype()); };
  for (auto& t : b.inputs) pin(t);
  for (auto& t : b.targets) pin(t);
  if (b.weights.defined()) pin(b.weights);
  return b;
}

Batch firstSamples(const Batch& full, std::int64_t count) {
  Batch v;
  for (const auto& t : full.inputs) v.inputs.push_back(t.slice(0, count));
  for (const auto& t : full.targets) v.targets.push_back(t.slice(0, count));
  if (full.weights.defined()) v.weights = full.weights.slice(0, count);
  return v;
}

}  // namespace

Loader::Loader(const Dataset& dataset, std::vector<std::int64_t> order, LoaderOptions options)
    : dataset_(dataset), order_(std::move(order)), options_(options) {
  KAON_CHECK(options_.batchSize >= 1, "loader: batch size must be >= 1, got {}", options_.batchSize);
  KAON_CHECK(options_.prefetch >= 0, "loader: prefetch must be >= 0, got {}", options_.prefetch);
  KAON_CHECK(options_.hold >= 1, "loader: hold must be >= 1, got {}", options_.hold);
  const auto n = static_cast<std::int64_t>(order_.size());
  batches_ = n / options_.batchSize + (!options_.dropLast && n % options_.batchSize != 0 ? 1 : 0);
  KAON_CHECK(options_.firstBatch >= 0 && options_.firstBatch <= batches_, "loader: first batch {} outside [0, {}]",
             options_.firstBatch, batches_);
  nextBatch_ = options_.firstBatch;
  if (batches_ == nextBatch_) return;
  // `hold` slots for the consumer plus `prefetch` being filled or waiting.
  const int slots = options_.prefetch + options_.hold;
  const std::int64_t size = std::min<std::int64_t>(options_.batchSize, n);
  for (int s = 0; s < slots; ++s) {
    Slot slot;
    slot.full = options_.pinned ? pinnedBatch(dataset_, size) : dataset_.allocateBatch(size);
    slot.view = slot.full;
    slots_.push_back(std::move(slot));
    free_.push_back(s);
  }
  if (options_.prefetch > 0) worker_ = std::thread([this] { work(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

std::int64_t Loader::countOf(std::int64_t batch) const {
  return std::min<std::int64_t>(options_.batchSize, static_cast<std::int64_t>(order_.size()) - batch * options_.batchSize);
}

void Loader::readInto(std::int64_t batch, Slot& slot) const {
  const std::int64_t count = countOf(batch);
  if (count != slot.view.size()) slot.view = firstSamples(slot.full, count);
  dataset_.read(std::span(order_).subspan(static_cast<std::size_t>(batch * options_.batchSize),
                                          static_cast<std::size_t>(count)),
                slot.view);
}

// Worker thread: fills free slots with batches nextBatch_.. in order until done, stopped or failed.
void Loader::work() {
  for (std::int64_t b = options_.firstBatch; b < batches_; ++b) {
    int slot;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stop_ || !free_.empty(); });
      if (stop_) return;
      slot = free_.front();
      free_.pop_front();
    }
    try {
      readInto(b, slots_[static_cast<std::size_t>(slot)]);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      error_ = std::current_exception();
      errorBatch_ = b;
      cv_.notify_all();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.emplace_back(b, slot);
    }
    cv_.notify_all();
  }
}

const Batch* Loader::next() {
  if (nextBatch_ >= batches_) return nullptr;
  const std::int64_t b = nextBatch_;
  auto fail = [&](std::exception_ptr e) {
    std::string what = "unknown error";
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      what = ex.what();
    } catch (...) {
    }
    const std::int64_t first = b * options_.batchSize;
    throw Error(fmt::format("data loader: reading batch {} of {} (samples {}..{} of this pass) from {}: {}", b + 1,
                            batches_, first, first + countOf(b) - 1, dataset_.describe(), what));
  };
  if (options_.prefetch == 0) {
    // The slots rotate: batch b uses slot b % hold, so the `hold` latest batches stay intact.
    Slot& slot = slots_[static_cast<std::size_t>(b % options_.hold)];
    try {
      readInto(b, slot);
    } catch (...) {
      nextBatch_ = batches_;  // the pass is over
      fail(std::current_exception());
    }
    ++nextBatch_;
    return &slot.view;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  if (static_cast<int>(held_.size()) == options_.hold) {
    free_.push_back(held_.front());
    held_.pop_front();
  }
  cv_.notify_all();
  cv_.wait(lock, [&] { return !ready_.empty() || error_; });
  if (ready_.empty()) {
    nextBatch_ = batches_;
    fail(error_);
  }
  auto [batch, slot] = ready_.front();
  ready_.pop_front();
  KAON_CHECK(batch == b, "data loader: expected batch {}, the worker produced {}", b, batch);
  held_.push_back(slot);
  ++nextBatch_;
  return &slots_[static_cast<std::size_t>(slot)].view;
}

}  // namespace kaon::data
