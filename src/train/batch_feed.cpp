#include "batch_feed.hpp"

namespace kaon::train {

BatchFeed::BatchFeed(data::Loader& loader, DeviceBatchPrefetcher* prefetcher, std::int64_t steps)
    : loader_(loader), prefetcher_(prefetcher), steps_(steps) {
  if (prefetcher_) prefetcher_->discardPending();  // an earlier pass may have stopped early
}

BatchFeed::Step BatchFeed::next() {
  KAON_CHECK(served_ < steps_, "batch feed: all {} steps of the pass were served", steps_);
  ++served_;
  if (!prefetcher_) {
    const data::Batch* b = loader_.next();
    KAON_CHECK(b, "batch feed: the loader ran out after {} steps", served_ - 1);
    return {b, b};
  }
  if (!ahead_) {  // the first step: nothing was read ahead yet
    ahead_ = loader_.next();
    KAON_CHECK(ahead_, "batch feed: the loader has no batch");
    prefetcher_->stage(*ahead_);
  }
  const data::Batch* host = ahead_;
  const data::Batch& compute = prefetcher_->take();  // copies of earlier batches are done from here on
  ahead_ = nullptr;
  if (served_ < steps_) {
    ahead_ = loader_.next();  // `host` stays valid: the loader holds two batches
    KAON_CHECK(ahead_, "batch feed: the loader ran out after {} steps", served_);
    prefetcher_->stage(*ahead_);
  }
  return {host, &compute};
}

}  // namespace kaon::train
