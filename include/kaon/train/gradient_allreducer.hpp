#pragma once
// Synchronous data parallelism: averages a model's gradients over all ranks, overlapping the
// communication with the rest of backward.
//
// Parameters are grouped into buckets of about `bucketBytes`, in reverse layer order (the
// order in which backward produces their gradients); a parameter is never split, so one
// larger than a bucket closes the bucket it joins. Each bucket is one contiguous slice of the flat gradient buffer, reduced
// in place, started as soon as its last gradient is ready. Every rank builds the same buckets
// from the same model, so collectives are issued in the same order everywhere.
//
// How a started bucket travels (AllreduceMode):
//   Thread       host gradients: a communication thread reduces each bucket in order (a
//                sleeping point-to-point ring for large buckets, the blocking allreduce for
//                small ones; docs/distributed.md), on a communicator split from `comm` (needs
//                comm.threadSafe(), i.e. MPI_THREAD_MULTIPLE). The default.
//   Nonblocking  one allreduceAsync per bucket, polled from the gradient-ready callback (Open
//                MPI's libnbc progresses only then). GPU gradients always take this path: NCCL
//                (or the staged communicator) queues the reductions on its own stream.
//
// Call order per step: beginBackward(); model.backward(...); finishBackward().
#include <memory>
#include <string>
#include <vector>

#include "kaon/comm/communicator.hpp"
#include "kaon/nn/model.hpp"
#include "kaon/train/timeline.hpp"

namespace kaon::train {

enum class AllreduceMode { Thread, Nonblocking };
const char* allreduceModeName(AllreduceMode mode);
AllreduceMode allreduceModeFromName(const std::string& name);  // "thread" | "nonblocking"

// Bucket sizes when none is given (bucketBytes 0, trainer.bucket_mb unset), by where the
// gradients live. Host: small, so the last bucket (the first layers' gradients, ready only when
// backward ends, hence never hidden) is small; chosen by measurement (docs/perf-notes.md §9).
// GPU: NCCL's per-launch cost favours fewer, larger buckets; unchanged from before.
inline constexpr std::size_t kDefaultHostBucketBytes = std::size_t{1} << 20;
inline constexpr std::size_t kDefaultDeviceBucketBytes = std::size_t{25} << 20;

class GradientAllreducer {
 public:
  // bucketBytes 0: kDefaultHostBucketBytes or kDefaultDeviceBucketBytes, by the gradients' device.
  GradientAllreducer(nn::Model& model, comm::Communicator& comm, std::size_t bucketBytes = 0,
                     AllreduceMode mode = AllreduceMode::Thread);
  ~GradientAllreducer();
  GradientAllreducer(const GradientAllreducer&) = delete;
  GradientAllreducer& operator=(const GradientAllreducer&) = delete;

  void beginBackward();
  // Starts buckets that never became ready (frozen layers, propagation-only passes) and waits
  // for all; afterwards every rank holds the average gradient. A failed allreduce (also one on
  // the communication thread) is thrown here.
  void finishBackward();

  struct Bucket {
    std::int64_t offset = 0, count = 0;  // slice of the flat gradient buffer
    int parameters = 0;                  // how many parameters it covers
  };
  const std::vector<Bucket>& buckets() const { return buckets_; }
  std::size_t bucketBytes() const { return bucketBytes_; }  // the size the buckets were cut to
  // The path buckets take (Nonblocking for GPU gradients whatever was asked).
  AllreduceMode mode() const { return mode_; }
  // Buckets started from the gradient-ready callback during the last backward (the overlap).
  int bucketsStartedDuringBackward() const { return startedEarly_; }
  // Records each bucket's allreduce on the timeline's comm lane: launch to observed completion
  // (nonblocking), or the blocking call on the communication thread (thread).
  void setTimeline(Timeline* timeline) { timeline_ = timeline; }

 private:
  void onGradientReady(const nn::GradientReady& g);
  void start(std::size_t bucket);
  void poll(std::size_t bucket, bool wait);
  void recordOnTimeline(std::size_t bucket, Timeline::Clock::time_point start, Timeline::Clock::time_point end);

  nn::Model& model_;
  comm::Communicator& comm_;
  AllreduceMode mode_;
  std::size_t bucketBytes_;
  std::unique_ptr<class BucketCommThread> thread_;  // Thread mode
  std::vector<Bucket> buckets_;
  std::vector<int> bucketOfParameter_;  // by parameter order in the flat buffer
  std::vector<std::int64_t> parameterOffsets_;
  std::vector<int> pending_;            // parameters still to report, per bucket
  std::vector<std::unique_ptr<comm::Request>> requests_;  // Nonblocking mode
  std::size_t nextBucket_ = 0;
  Timeline* timeline_ = nullptr;
  std::vector<Timeline::Clock::time_point> launched_;
  std::vector<bool> done_;
  int startedEarly_ = 0;
  bool inBackward_ = false;
};

}  // namespace kaon::train
