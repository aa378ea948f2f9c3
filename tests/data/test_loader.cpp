// Loader: the same batches as synchronous reads for every prefetch depth, worker errors
// re-thrown with context after the good batches, prompt shutdown when the consumer stops.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <numeric>
#include <thread>

#include "kaon/core/runtime.hpp"
#include "kaon/data/in_memory_dataset.hpp"
#include "kaon/data/loader.hpp"
#include "kaon/data/sampler.hpp"

namespace kaon::data {
namespace {

std::shared_ptr<InMemoryDataset> ramp(std::int64_t n) {
  Tensor x = Tensor::empty(Shape{n, 2}), y = Tensor::empty(Shape{n}), w = Tensor::empty(Shape{n});
  for (std::int64_t i = 0; i < n; ++i) {
    x.data<float>()[2 * i] = static_cast<float>(i), x.data<float>()[2 * i + 1] = static_cast<float>(-i);
    y.data<float>()[i] = static_cast<float>(i % 3), w.data<float>()[i] = 1.0f / static_cast<float>(i + 1);
  }
  return std::make_shared<InMemoryDataset>(std::vector<Tensor>{x}, std::vector<Tensor>{y}, w, "ramp");
}

// Wraps a dataset: optional delay per read, failure at a given read, counts reads.
class Instrumented : public Dataset {
 public:
  Instrumented(const Dataset& base, int failAt, std::chrono::milliseconds delay) : base_(base), failAt_(failAt), delay_(delay) {}
  std::string describe() const override { return "instrumented test data"; }
  std::int64_t size() const override { return base_.size(); }
  std::vector<Shape> inputShapes() const override { return base_.inputShapes(); }
  std::vector<Shape> targetShapes() const override { return base_.targetShapes(); }
  bool hasWeights() const override { return base_.hasWeights(); }
  void read(std::span<const std::int64_t> idx, Batch& out) const override {
    std::this_thread::sleep_for(delay_);
    if (reads_++ == failAt_) KAON_FAIL("disk on fire at sample {}", idx[0]);
    base_.read(idx, out);
  }
  int reads() const { return reads_; }

 private:
  const Dataset& base_;
  int failAt_;
  std::chrono::milliseconds delay_;
  mutable std::atomic<int> reads_{0};
};

TEST(Loader, YieldsExactlyTheSynchronousBatches) {
  auto d = ramp(103);
  std::vector<std::int64_t> order = ShardedSampler(103, {true, 4, 1, 2}).indices(2);  // rank 1 of 2: 52 samples
  for (int prefetch : {0, 1, 3}) {
    for (bool dropLast : {false, true}) {
      for (std::int64_t first : {0, 2}) {
        SCOPED_TRACE(::testing::Message() << "prefetch " << prefetch << " dropLast " << dropLast << " first " << first);
        Loader loader(*d, order, {10, dropLast, prefetch, first});
        EXPECT_EQ(loader.batches(), dropLast ? 5 : 6);
        std::int64_t k = first;
        while (const Batch* b = loader.next()) {
          std::int64_t begin = k * 10, count = std::min<std::int64_t>(10, 52 - begin);
          Batch want = d->allocateBatch(count);
          d->read(std::span(order).subspan(begin, count), want);
          ASSERT_EQ(b->size(), count);
          EXPECT_EQ(b->inputs[0].toVector<float>(), want.inputs[0].toVector<float>());
          EXPECT_EQ(b->targets[0].toVector<float>(), want.targets[0].toVector<float>());
          EXPECT_EQ(b->weights.toVector<float>(), want.weights.toVector<float>());
          ++k;
        }
        EXPECT_EQ(k, loader.batches());
        EXPECT_EQ(loader.next(), nullptr);
      }
    }
  }
}

TEST(Loader, RanksTogetherSeeEverySampleExactlyOncePerEpoch) {
  auto d = ramp(99);
  for (int world : {1, 3}) {
    std::vector<int> seen(99, 0);
    for (int rank = 0; rank < world; ++rank) {
      ShardedSampler sampler = shardedSamplerFor(*d, {true, 5, rank, world, RemainderPolicy::Drop});
      Loader loader(*d, sampler.indices(1), {8, false, 2, 0});
      while (const Batch* b = loader.next()) {
        std::vector<float> x = b->inputs[0].toVector<float>();
        for (std::size_t k = 0; k < x.size(); k += 2) ++seen[static_cast<std::size_t>(x[k])];  // column 0: the index
      }
    }
    for (int i = 0; i < 99; ++i) ASSERT_EQ(seen[i], 1) << "sample " << i << " with " << world << " ranks";
  }
}

TEST(Loader, WorkerErrorsReachTheConsumerWithContext) {
  auto d = ramp(100);
  std::vector<std::int64_t> order(100);
  std::iota(order.begin(), order.end(), 0);
  for (int prefetch : {0, 2}) {
    Instrumented failing(*d, 3, std::chrono::milliseconds(0));  // the 4th read fails
    Loader loader(failing, order, {10, false, prefetch, 0});
    for (int k = 0; k < 3; ++k) ASSERT_NE(loader.next(), nullptr) << "batches before the failure arrive";
    try {
      loader.next();
      FAIL() << "no error";
    } catch (const Error& e) {
      std::string m = e.what();
      EXPECT_NE(m.find("batch 4 of 10"), std::string::npos) << m;
      EXPECT_NE(m.find("samples 30..39"), std::string::npos) << m;
      EXPECT_NE(m.find("instrumented test data"), std::string::npos) << m;
      EXPECT_NE(m.find("disk on fire at sample 30"), std::string::npos) << m;
    }
    EXPECT_EQ(loader.next(), nullptr);  // the pass is over, no hang
  }
}

TEST(Loader, StopsPromptlyWhenTheConsumerLeavesEarly) {
  auto d = ramp(1000);
  std::vector<std::int64_t> order(1000);
  std::iota(order.begin(), order.end(), 0);
  Instrumented slow(*d, -1, std::chrono::milliseconds(20));
  auto start = std::chrono::steady_clock::now();
  {
    Loader loader(slow, order, {10, false, 4, 0});
    ASSERT_NE(loader.next(), nullptr);
  }  // 99 batches left: the destructor must not read them
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 0.5);
  EXPECT_LE(slow.reads(), 1 + 4 + 1);  // the consumed one, the read-ahead ring, at most one in flight
  // A consumer throwing mid-pass unwinds through the destructor the same way.
  EXPECT_THROW(
      {
        Loader loader(slow, order, {10, false, 2, 0});
        loader.next();
        throw Error("consumer failed");
      },
      Error);
}

TEST(Loader, ReadsAheadWhileTheConsumerComputes) {
  auto d = ramp(200);
  std::vector<std::int64_t> order(200);
  std::iota(order.begin(), order.end(), 0);
  Instrumented slow(*d, -1, std::chrono::milliseconds(20));
  auto run = [&](int prefetch) {
    auto start = std::chrono::steady_clock::now();
    Loader loader(slow, order, {20, false, prefetch, 0});
    while (loader.next()) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // "compute"
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  double sync = run(0), overlapped = run(2);  // 10 batches: ~0.4 s vs ~0.22 s
  EXPECT_LT(overlapped, 0.8 * sync) << "sync " << sync << " s, prefetch " << overlapped << " s";
}

}  // namespace
}  // namespace kaon::data

namespace kaon::data {
namespace {

// hold = 2 (what a GPU trainer uses to copy batch k+1 while it still reads batch k): the
// previous batch is intact after the next call, in pinned memory too, for every prefetch depth.
TEST(Loader, HoldKeepsThePreviousBatchIntactAndPinnedBuffersGiveTheSameBatches) {
  auto d = ramp(47);
  std::vector<std::int64_t> order(47);
  std::iota(order.begin(), order.end(), 0);
  std::reverse(order.begin(), order.end());
  for (int prefetch : {0, 1, 2}) {
    for (bool pinned : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "prefetch " << prefetch << " pinned " << pinned);
      LoaderOptions o{8, false, prefetch, 0};
      o.hold = 2;
      o.pinned = pinned;
      Loader loader(*d, order, o);
      const Batch* previous = nullptr;
      std::vector<float> previousX;
      std::int64_t k = 0;
      while (const Batch* b = loader.next()) {
        if (previous) { EXPECT_EQ(previous->inputs[0].toVector<float>(), previousX) << "batch " << k - 1 << " was overwritten"; }
        const std::int64_t count = std::min<std::int64_t>(8, 47 - 8 * k);
        ASSERT_EQ(b->size(), count);
        for (std::int64_t i = 0; i < count; ++i) {
          const float sample = static_cast<float>(order[static_cast<std::size_t>(8 * k + i)]);
          EXPECT_EQ(b->inputs[0].data<float>()[2 * i], sample);
          EXPECT_EQ(b->targets[0].data<float>()[i], static_cast<float>(static_cast<int>(sample) % 3));
        }
        if (pinned && cudaBuilt() && cudaDeviceCount() > 0) { EXPECT_TRUE(b->inputs[0].pinned()); }
        previous = b;
        previousX = b->inputs[0].toVector<float>();
        ++k;
      }
      EXPECT_EQ(k, 6);
    }
  }
  EXPECT_THROW(Loader(*d, order, LoaderOptions{8, false, 1, 0, 0}), Error);  // hold must be >= 1
}

}  // namespace
}  // namespace kaon::data
