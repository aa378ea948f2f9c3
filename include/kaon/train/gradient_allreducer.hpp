#pragma once
// Synchronous data parallelism: averages a model's gradients over all ranks, overlapping the
// communication with the rest of backward.
//
// Parameters are grouped into buckets of about `bucketBytes`, in reverse layer order (the
// order in which backward produces their gradients). Each bucket is one contiguous slice of
// the flat gradient buffer, so it is reduced in place with one non-blocking allreduce,
// started as soon as its last gradient is ready. Every rank builds the same buckets from the
// same model, so collectives are issued in the same order everywhere.
//
// Call order per step: beginBackward(); model.backward(...); finishBackward().
#include <memory>
#include <vector>

#include "kaon/comm/communicator.hpp"
#include "kaon/nn/model.hpp"
#include "kaon/train/timeline.hpp"

namespace kaon::train {

class GradientAllreducer {
 public:
  GradientAllreducer(nn::Model& model, comm::Communicator& comm, std::size_t bucketBytes = 25u << 20);
  ~GradientAllreducer();
  GradientAllreducer(const GradientAllreducer&) = delete;
  GradientAllreducer& operator=(const GradientAllreducer&) = delete;

  void beginBackward();
  // Starts buckets that never became ready (frozen layers, propagation-only passes) and waits
  // for all; afterwards every rank holds the average gradient.
  void finishBackward();

  struct Bucket {
    std::int64_t offset = 0, count = 0;  // slice of the flat gradient buffer
    int parameters = 0;                  // how many parameters it covers
  };
  const std::vector<Bucket>& buckets() const { return buckets_; }
  // Allreduces started from the gradient-ready callback during the last backward (the overlap).
  int bucketsStartedDuringBackward() const { return startedEarly_; }
  // Records each bucket's allreduce (launch to observed completion) on the timeline's comm lane.
  void setTimeline(Timeline* timeline) { timeline_ = timeline; }

 private:
  void onGradientReady(const nn::GradientReady& g);
  void start(std::size_t bucket);
  void poll(std::size_t bucket, bool wait);

  nn::Model& model_;
  comm::Communicator& comm_;
  std::vector<Bucket> buckets_;
  std::vector<int> bucketOfParameter_;  // by parameter order in the flat buffer
  std::vector<std::int64_t> parameterOffsets_;
  std::vector<int> pending_;            // parameters still to report, per bucket
  std::vector<std::unique_ptr<comm::Request>> requests_;
  std::size_t nextBucket_ = 0;
  Timeline* timeline_ = nullptr;
  std::vector<Timeline::Clock::time_point> launched_;
  std::vector<bool> done_;
  int startedEarly_ = 0;
  bool inBackward_ = false;
};

}  // namespace kaon::train
