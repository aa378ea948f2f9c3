#pragma once
// The batches of one pass, as a training loop consumes them: each step gets the batch as read
// (host memory, for the metrics) and the batch to compute on. Without a prefetcher they are the
// same. With one (a GPU model), the next batch is read and its copy started before the current
// step is handed out, so the transfer overlaps the step; the loader must then hold two batches
// (LoaderOptions::hold = 2) so that the current host batch stays valid meanwhile.
//
//   BatchFeed feed(loader, prefetcher, steps);
//   for (s...) { auto [host, batch] = feed.next(); step(*batch); metrics(host->targets); }
#include <cstdint>

#include "device_prefetcher.hpp"
#include "kaon/data/loader.hpp"

namespace kaon::train {

class BatchFeed {
 public:
  // `steps`: how many next() calls this pass makes (the loader's remaining batches or fewer).
  // `prefetcher` may be null. Both must outlive the feed.
  BatchFeed(data::Loader& loader, DeviceBatchPrefetcher* prefetcher, std::int64_t steps);

  struct Step {
    const data::Batch* host;     // valid until the next call of next()
    const data::Batch* compute;  // on the compute device; valid as long
  };
  Step next();

 private:
  data::Loader& loader_;
  DeviceBatchPrefetcher* prefetcher_;
  std::int64_t steps_, served_ = 0;
  const data::Batch* ahead_ = nullptr;  // read and staged, not yet handed out
};

}  // namespace kaon::train
