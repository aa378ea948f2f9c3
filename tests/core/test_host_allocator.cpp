// The caching host allocator behind CPU tensors: size classes, reuse only after the last handle
// is gone, statistics, the off switch, and a training loop that stops allocating from the system.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "core/host_allocator.hpp"
#include "kaon/core/runtime.hpp"
#include "kaon/core/tensor.hpp"
#include "kaon/nn/layers/conv.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/pool.hpp"
#include "kaon/nn/layers/reshape.hpp"
#include "kaon/nn/model.hpp"
#include "kaon/ops/loss.hpp"
#include "kaon/optim/optimizer.hpp"

namespace kaon {
namespace {

// Turns caching on for one test (it is off by default in ASan builds) and restores the setting.
struct CachingOn {
  bool before = hostCachingEnabled();
  CachingOn() { setHostCaching(true); }
  ~CachingOn() { setHostCaching(before); }
};

TEST(HostAllocator, SizeClasses) {
  using detail::hostRoundSize;
  EXPECT_EQ(hostRoundSize(0), 64u);
  EXPECT_EQ(hostRoundSize(1), 64u);
  EXPECT_EQ(hostRoundSize(65), 128u);
  EXPECT_EQ(hostRoundSize(4096), 4096u);
  EXPECT_EQ(hostRoundSize(4097), 4608u);
  EXPECT_EQ(hostRoundSize(std::size_t{1} << 20), std::size_t{1} << 20);
  EXPECT_EQ(hostRoundSize((std::size_t{1} << 20) + 1), (std::size_t{5} << 18));  // 1.25 MiB
  EXPECT_EQ(hostRoundSize(std::size_t{64} << 20), std::size_t{64} << 20);
  for (std::size_t b : {std::size_t{3000}, std::size_t{777777}, std::size_t{5} << 22, (std::size_t{1} << 30) + 7}) {
    EXPECT_GE(hostRoundSize(b), b);
    EXPECT_LE(hostRoundSize(b), b + b / 4 + 512);  // at most 25 % slack above 1 MiB
    EXPECT_EQ(hostRoundSize(b) % 64, 0u);
  }
}

TEST(HostAllocator, BlockIsReusedOnlyAfterTheLastHandleDrops) {
  CachingOn on;
  hostEmptyCache();
  auto t = std::make_unique<Tensor>(Tensor::empty(Shape{1000, 100}));
  void* block = t->raw();
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % 64, 0u);
  Tensor view = t->reshape(Shape{100000});
  t.reset();  // the view still holds the storage
  Tensor other = Tensor::empty(Shape{1000, 100});
  EXPECT_NE(other.raw(), block);
  view = Tensor();  // last handle gone: the block goes to the free list
  const HostMemoryStats before = hostMemoryStats();
  Tensor again = Tensor::empty(Shape{100000});  // same size class
  EXPECT_EQ(again.raw(), block);
  const HostMemoryStats after = hostMemoryStats();
  EXPECT_EQ(after.systemAllocs, before.systemAllocs);
  EXPECT_EQ(after.cacheHits, before.cacheHits + 1);
}

TEST(HostAllocator, StatisticsAndEmptyCache) {
  CachingOn on;
  hostEmptyCache();
  const HostMemoryStats s0 = hostMemoryStats();
  EXPECT_EQ(s0.cachedBytes, 0);
  EXPECT_EQ(s0.reservedBytes, s0.currentBytes);
  const std::int64_t size = static_cast<std::int64_t>(detail::hostRoundSize(3 << 20));
  {
    Tensor a = Tensor::empty(Shape{3 << 18});  // 3 MiB of float
    Tensor b = Tensor::empty(Shape{3 << 18});
    const HostMemoryStats s1 = hostMemoryStats();
    EXPECT_EQ(s1.currentBytes, s0.currentBytes + 2 * size);
    EXPECT_GE(s1.peakBytes, s1.currentBytes);
  }
  const HostMemoryStats s2 = hostMemoryStats();
  EXPECT_EQ(s2.currentBytes, s0.currentBytes);
  EXPECT_EQ(s2.cachedBytes, 2 * size);
  EXPECT_EQ(s2.reservedBytes, s2.currentBytes + s2.cachedBytes);
  hostResetPeakMemory();
  EXPECT_EQ(hostMemoryStats().peakBytes, s2.currentBytes);
  hostEmptyCache();
  const HostMemoryStats s3 = hostMemoryStats();
  EXPECT_EQ(s3.cachedBytes, 0);
  EXPECT_EQ(s3.reservedBytes, s3.currentBytes);
  EXPECT_EQ(s3.systemFrees, s2.systemFrees + 2);
}

TEST(HostAllocator, SwitchedOffEveryBlockGoesBackToTheSystem) {
  const bool before = hostCachingEnabled();
  setHostCaching(false);
  const HostMemoryStats s0 = hostMemoryStats();
  EXPECT_EQ(s0.cachedBytes, 0);  // switching off emptied the cache
  for (int i = 0; i < 3; ++i) {
    Tensor t = Tensor::empty(Shape{4096});
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.raw()) % 64, 0u);
  }
  const HostMemoryStats s1 = hostMemoryStats();
  EXPECT_EQ(s1.systemAllocs, s0.systemAllocs + 3);
  EXPECT_EQ(s1.systemFrees, s0.systemFrees + 3);
  EXPECT_EQ(s1.cacheHits, s0.cacheHits);
  // A block allocated while off and freed while on is not cached (it has no size class).
  Tensor t = Tensor::empty(Shape{4096});
  setHostCaching(true);
  t = Tensor();
  EXPECT_EQ(hostMemoryStats().cachedBytes, 0);
  setHostCaching(before);
}

TEST(HostAllocator, ConcurrentThreadsGetDistinctBlocks) {
  CachingOn on;
  std::vector<std::thread> threads;
  std::vector<int> bad(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t, &bad] {
      for (int i = 0; i < 200; ++i) {
        Tensor a = Tensor::full(Shape{257}, t), b = Tensor::full(Shape{257}, t + 10);
        if (a.raw() == b.raw() || a.item(256) != t || b.item(0) != t + 10) ++bad[t];
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(bad[t], 0) << "thread " << t;
}

// After the first steps a training loop finds every activation, gradient and scratch tensor of
// the step in the cache: no system allocation, no fresh pages to fault in.
TEST(HostAllocator, TrainingLoopReachesSteadyStateWithoutSystemAllocations) {
  CachingOn on;
  nn::Model model;
  model.addInput("x", Shape{3, 16, 16});
  model.add(std::make_unique<nn::Conv>(
      "conv1", nn::ConvOptions{.spatialRank = 2, .filters = 8, .kernel = {3}, .samePadding = true,
                               .activation = ops::Activation::Relu}));
  model.add(std::make_unique<nn::Pool>("pool1", nn::PoolOptions{.window = {2}}));
  model.add(std::make_unique<nn::Reshape>("flatten", std::vector<std::int64_t>{}));
  model.add(std::make_unique<nn::Dense>("fc", nn::DenseOptions{2}));
  model.build(DType::Float32, 1);
  Tensor x = Tensor::full(Shape{4, 3, 16, 16}, 0.5), y = Tensor::fromVector<float>(Shape{4}, {0, 1, 0, 1});
  optim::Sgd sgd(optim::SgdOptions{.momentum = 0.9});
  sgd.attach(model.parameters(), model.gradients(), model.trainableRanges());
  auto step = [&] {
    model.zeroGrad();
    Tensor out = model.forward(x, true);
    ops::LossResult l = ops::loss(ops::LossKind::SoftmaxCrossEntropy, out, y);
    model.backward(l.grad);
    sgd.step(1e-2);
  };
  for (int i = 0; i < 3; ++i) step();
  const HostMemoryStats warm = hostMemoryStats();
  for (int i = 0; i < 5; ++i) step();
  const HostMemoryStats later = hostMemoryStats();
  EXPECT_EQ(later.systemAllocs, warm.systemAllocs);
  EXPECT_GT(later.cacheHits, warm.cacheHits);
  EXPECT_EQ(later.reservedBytes, warm.reservedBytes);
}

}  // namespace
}  // namespace kaon
