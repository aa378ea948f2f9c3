// BatchFeed, the trainer's batch sequencing: without a prefetcher the loader's batches as they
// come; with one (here in its CPU mode, the GPU tests run the real copy stream) the same batches
// one step ahead, while the host batch of the current step stays intact for the metrics.
#include <gtest/gtest.h>

#include <numeric>

#include "../support/test_util.hpp"
#include "train/batch_feed.hpp"

namespace kaon::train {
namespace {

TEST(BatchFeed, YieldsTheSynchronousBatchesWithAndWithoutStaging) {
  auto data = testing::blobImages(77, 3);  // 77 / 10: seven full batches and a short one
  std::vector<std::int64_t> order(77);
  std::iota(order.begin(), order.end(), 0);
  std::reverse(order.begin(), order.end());
  for (bool staged : {false, true}) {
    for (int prefetch : {0, 2}) {
      for (std::int64_t first : {0, 3}) {
        SCOPED_TRACE(::testing::Message() << "staged " << staged << " prefetch " << prefetch << " first " << first);
        data::LoaderOptions lo{10, false, prefetch, first};
        lo.hold = staged ? 2 : 1;
        data::Loader loader(*data, order, lo);
        DeviceBatchPrefetcher prefetcher(Device::cpu());
        BatchFeed feed(loader, staged ? &prefetcher : nullptr, loader.batches() - first);
        for (std::int64_t k = first; k < loader.batches(); ++k) {
          auto [host, compute] = feed.next();
          const std::int64_t count = std::min<std::int64_t>(10, 77 - 10 * k);
          data::Batch want = data->allocateBatch(count);
          data->read(std::span(order).subspan(static_cast<std::size_t>(10 * k), static_cast<std::size_t>(count)), want);
          ASSERT_EQ(compute->size(), count);
          EXPECT_EQ(compute->inputs[0].toVector<float>(), want.inputs[0].toVector<float>()) << "batch " << k;
          EXPECT_EQ(compute->targets[0].toVector<float>(), want.targets[0].toVector<float>()) << "batch " << k;
          // The host batch is intact after the next batch was read ahead (hold = 2).
          EXPECT_EQ(host->targets[0].toVector<float>(), want.targets[0].toVector<float>()) << "batch " << k;
          EXPECT_EQ(host->inputs[0].toVector<float>(), want.inputs[0].toVector<float>()) << "batch " << k;
          if (staged) { EXPECT_FALSE(host->inputs[0].sameStorage(compute->inputs[0])); }
          if (staged) { EXPECT_LE(prefetcher.pending(), 1); }
        }
        EXPECT_THROW(feed.next(), Error);  // the pass is over
        EXPECT_EQ(prefetcher.pending(), 0);
      }
    }
  }
}

TEST(BatchFeed, APassThatStopsEarlyLeavesNothingStaleForTheNext) {
  auto data = testing::blobImages(40, 4);
  std::vector<std::int64_t> order(40);
  std::iota(order.begin(), order.end(), 0);
  DeviceBatchPrefetcher prefetcher(Device::cpu());
  data::LoaderOptions lo{8, false, 1, 0};
  lo.hold = 2;
  {
    data::Loader loader(*data, order, lo);
    BatchFeed feed(loader, &prefetcher, loader.batches());
    feed.next();  // stopped after one step (a signal): batch 1 is staged, never taken
    EXPECT_EQ(prefetcher.pending(), 1);
  }
  data::Loader loader(*data, order, lo);
  BatchFeed feed(loader, &prefetcher, loader.batches());
  auto [host, compute] = feed.next();
  data::Batch want = data->allocateBatch(8);
  data->read(std::span(order).subspan(0, 8), want);
  EXPECT_EQ(compute->inputs[0].toVector<float>(), want.inputs[0].toVector<float>());
}

}  // namespace
}  // namespace kaon::train
