// Device memory: round trips, the caching allocator's reuse and statistics, stream ordering.
#include "gpu_util.hpp"
#include "kaon/ops/elementwise.hpp"

namespace kaon {
namespace {

using namespace gputest;

TEST(GpuMemory, RoundTripAndZero) {
  KAON_REQUIRE_GPU();
  Tensor x = testing::randomTensor(Shape{3, 5, 7}, 1);
  Tensor g = x.to(gpu());
  EXPECT_TRUE(g.device().isCuda());
  EXPECT_EQ(toCpu(g).toVector<float>(), x.toVector<float>());
  Tensor view = g.slice(1, 2);  // offset view, copied back alone
  EXPECT_EQ(toCpu(view).toVector<float>(), x.slice(1, 2).toVector<float>());
  g.zero();
  for (float v : toCpu(g).toVector<float>()) ASSERT_EQ(v, 0.0f);
}

TEST(GpuMemory, CachingAllocatorReusesBlocksAndCounts) {
  KAON_REQUIRE_GPU();
  const CudaMemoryStats before = cudaMemoryStats(0);
  {
    Tensor a = Tensor::empty(Shape{1000, 1000}, DType::Float32, gpu());  // 4 MB
    CudaMemoryStats s = cudaMemoryStats(0);
    EXPECT_GE(s.currentBytes - before.currentBytes, 4000000);
    EXPECT_GE(s.peakBytes, s.currentBytes);
  }
  const CudaMemoryStats freed = cudaMemoryStats(0);
  EXPECT_EQ(freed.currentBytes, before.currentBytes);
  EXPECT_GE(freed.reservedBytes, freed.currentBytes + 4000000);  // kept in the cache
  {
    Tensor b = Tensor::empty(Shape{1000, 1000}, DType::Float32, gpu());
    EXPECT_EQ(cudaMemoryStats(0).mallocCount, freed.mallocCount);  // served from the cache
  }
  cudaEmptyCache(0);
  EXPECT_EQ(cudaMemoryStats(0).reservedBytes, cudaMemoryStats(0).currentBytes);
}

TEST(GpuMemory, ReuseIsStreamOrdered) {
  KAON_REQUIRE_GPU();
  // A block freed while a kernel may still run must not be overwritten before it finished:
  // the next owner's work is queued behind it on the compute stream.
  Tensor a = Tensor::full(Shape{1 << 20}, 2.0).to(gpu());
  double expected = 0;
  for (int i = 0; i < 20; ++i) {
    Tensor tmp = ops::add(a, a);  // 4 each
    expected = ops::sum(tmp);
    Tensor reuse = Tensor::zeros(Shape{1 << 20}, DType::Float32, gpu());  // likely tmp's old block later
    ops::axpby(1.0, a, 1.0, reuse, reuse);
    EXPECT_EQ(ops::sum(reuse), 2.0 * (1 << 20));
  }
  EXPECT_EQ(expected, 4.0 * (1 << 20));
}

}  // namespace
}  // namespace kaon
