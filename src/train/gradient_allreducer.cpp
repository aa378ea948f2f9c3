#include "kaon/train/gradient_allreducer.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "bucket_comm_thread.hpp"

namespace kaon::train {

const char* allreduceModeName(AllreduceMode mode) {
  return mode == AllreduceMode::Thread ? "thread" : "nonblocking";
}

AllreduceMode allreduceModeFromName(const std::string& name) {
  if (name == "thread") return AllreduceMode::Thread;
  if (name == "nonblocking") return AllreduceMode::Nonblocking;
  KAON_FAIL("unknown allreduce mode '{}' (expected thread or nonblocking)", name);
}

GradientAllreducer::GradientAllreducer(nn::Model& model, comm::Communicator& comm, std::size_t bucketBytes,
                                       AllreduceMode mode)
    : model_(model), comm_(comm), mode_(mode), bucketBytes_(bucketBytes) {
  KAON_CHECK(model_.built(), "gradient allreducer: the model must be built");
  const bool onGpu = model_.gradients().device().isCuda();
  if (bucketBytes_ == 0) bucketBytes_ = onGpu ? kDefaultDeviceBucketBytes : kDefaultHostBucketBytes;
  // GPU gradients stay on the device communicator's stream (NCCL or staged): queuing there is
  // already asynchronous, a host thread would only add a synchronisation.
  if (onGpu) mode_ = AllreduceMode::Nonblocking;
  auto params = model_.namedParameters();
  const std::size_t elementBytes = dtypeSize(model_.gradients().dtype());
  // Walk parameters from last to first (backward order), closing a bucket when it is full.
  bucketOfParameter_.assign(params.size(), -1);
  for (const auto& p : params) parameterOffsets_.push_back(p.parameter->offset);
  Bucket current;
  std::int64_t end = model_.parameterCount();
  for (int i = static_cast<int>(params.size()) - 1; i >= 0; --i) {
    const nn::Parameter& p = *params[i].parameter;
    if (p.shape.numel() == 0) continue;
    current.offset = p.offset;
    current.count = end - p.offset;
    current.parameters += 1;
    bucketOfParameter_[i] = static_cast<int>(buckets_.size());
    if (static_cast<std::size_t>(current.count) * elementBytes >= bucketBytes_) {
      buckets_.push_back(current);
      end = current.offset;
      current = Bucket{};
    }
  }
  if (current.parameters > 0) buckets_.push_back(current);
  if (mode_ == AllreduceMode::Thread) {
    KAON_CHECK(comm_.threadSafe(),
               "trainer.allreduce: thread needs a communicator two threads may call at once (MPI initialised with "
               "MPI_THREAD_MULTIPLE; the '{}' communicator is not); use trainer.allreduce: nonblocking",
               comm_.name());
    // Collective: every rank builds its allreducer at the same point.
    thread_ = std::make_unique<BucketCommThread>(comm_.split(0, comm_.rank()), comm::ReduceOp::Average);
  }
  model_.setGradientReadyCallback([this](const nn::GradientReady& g) { onGradientReady(g); });
}

GradientAllreducer::~GradientAllreducer() {
  model_.setGradientReadyCallback(nullptr);
  for (auto& r : requests_)
    if (r) r->wait();
}

void GradientAllreducer::beginBackward() {
  KAON_CHECK(!inBackward_, "gradient allreducer: beginBackward called twice");
  inBackward_ = true;
  startedEarly_ = 0;
  pending_.assign(buckets_.size(), 0);
  for (const auto& b : buckets_) pending_[&b - buckets_.data()] = b.parameters;
  requests_.clear();
  requests_.resize(buckets_.size());
  launched_.assign(buckets_.size(), {});
  done_.assign(buckets_.size(), false);
  nextBucket_ = 0;
}

void GradientAllreducer::recordOnTimeline(std::size_t b, Timeline::Clock::time_point start,
                                          Timeline::Clock::time_point end) {
  if (timeline_)
    timeline_->add(fmt::format("allreduce bucket {} ({:.2f} MB)", b, buckets_[b].count * 4.0 / (1 << 20)), "comm",
                   start, end, 1);
}

void GradientAllreducer::poll(std::size_t b, bool wait) {
  if (!requests_[b] || done_[b]) return;
  if (wait) requests_[b]->wait();
  else if (!requests_[b]->test()) return;
  done_[b] = true;
  recordOnTimeline(b, launched_[b], Timeline::Clock::now());
}

void GradientAllreducer::start(std::size_t b) {
  Tensor slice = model_.gradients().slice(buckets_[b].offset, buckets_[b].offset + buckets_[b].count);
  launched_[b] = Timeline::Clock::now();
  if (thread_) thread_->enqueue(std::move(slice));
  else requests_[b] = comm_.allreduceAsync(slice, comm::ReduceOp::Average);
}

void GradientAllreducer::onGradientReady(const nn::GradientReady& g) {
  if (!inBackward_) return;
  auto it = std::lower_bound(parameterOffsets_.begin(), parameterOffsets_.end(), g.offset);
  KAON_CHECK(it != parameterOffsets_.end() && *it == g.offset, "gradient allreducer: unknown parameter at {}", g.offset);
  int bucket = bucketOfParameter_[it - parameterOffsets_.begin()];
  if (bucket < 0) return;
  --pending_[bucket];
  // Buckets start strictly in order (the same order on every rank), each once all of its
  // gradients are final; a bucket finished early waits for its predecessors.
  while (nextBucket_ < buckets_.size() && pending_[nextBucket_] == 0) {
    start(nextBucket_++);
    ++startedEarly_;
  }
  // Non-blocking collectives progress only inside MPI calls: poke the ones in flight.
  if (!thread_)
    for (std::size_t b = 0; b < nextBucket_; ++b) poll(b, false);
}

void GradientAllreducer::finishBackward() {
  KAON_CHECK(inBackward_, "gradient allreducer: finishBackward without beginBackward");
  inBackward_ = false;  // also when a bucket failed: the next step starts afresh (or not at all)
  while (nextBucket_ < buckets_.size()) start(nextBucket_++);
  if (thread_) {
    thread_->waitAll();
    auto timings = thread_->takeTimings();
    for (std::size_t b = 0; b < timings.size() && b < buckets_.size(); ++b)
      recordOnTimeline(b, timings[b].start, timings[b].end);
  } else {
    for (std::size_t b = 0; b < buckets_.size(); ++b) poll(b, true);
    requests_.clear();
  }
}

}  // namespace kaon::train
