// Communicator plumbing that runs without MPI or a GPU: the poll loop behind the GPU
// communicators' timeouts and error handling, device selection for a run, the staged
// communicator's pass-through, pinned host tensors.
#include <gtest/gtest.h>

#include <chrono>

#include "comm/completion_wait.hpp"
#include "kaon/comm/communicator.hpp"
#include "kaon/comm/device_selection.hpp"
#include "kaon/core/runtime.hpp"

namespace kaon::comm {
namespace {

using Clock = std::chrono::steady_clock;

std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CompletionWait, ReturnsOnceTheOperationCompletes) {
  int polls = 0, aborts = 0;
  detail::CompletionProbes p{[&] { return ++polls >= 5; }, [] { return std::string(); }, [&] { ++aborts; }};
  detail::waitForCompletion(p, 10.0, Clock::now(), 0, "test op");
  EXPECT_EQ(polls, 5);
  EXPECT_EQ(aborts, 0);
}

TEST(CompletionWait, ARequestThatNeverCompletesTimesOutAbortsAndNamesTheRank) {
  int aborts = 0;
  detail::CompletionProbes p{[] { return false; }, [] { return std::string(); }, [&] { ++aborts; }};
  const auto start = Clock::now();
  const std::string err = errorOf([&] { detail::waitForCompletion(p, 0.2, start, 3, "NCCL allreduce of 10 values"); });
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_NE(err.find("rank 3: NCCL allreduce of 10 values did not complete within 0.2 s"), std::string::npos) << err;
  EXPECT_NE(err.find("trainer.stall_timeout"), std::string::npos) << err;
  EXPECT_NE(err.find("aborted"), std::string::npos) << err;
  EXPECT_EQ(aborts, 1);
  EXPECT_GE(took, 0.2);
  EXPECT_LT(took, 2.0);  // sleeps between polls are short
}

TEST(CompletionWait, AnAsynchronousErrorEndsTheWaitAtOnce) {
  int aborts = 0, polls = 0;
  detail::CompletionProbes p{[&] { ++polls; return false; },
                             [&] { return polls >= 3 ? std::string("NCCL error remote process exited") : std::string(); },
                             [&] { ++aborts; }};
  const auto start = Clock::now();
  const std::string err = errorOf([&] { detail::waitForCompletion(p, 100.0, start, 1, "NCCL broadcast"); });
  EXPECT_NE(err.find("rank 1: NCCL broadcast failed: NCCL error remote process exited"), std::string::npos) << err;
  EXPECT_EQ(aborts, 1);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 1.0);
}

TEST(CompletionWait, ZeroTimeoutWaitsAsLongAsItTakes) {
  int polls = 0;
  detail::CompletionProbes p{[&] { return ++polls > 3000; }, {}, {}};
  detail::waitForCompletion(p, 0.0, Clock::now() - std::chrono::hours(1), 0, "slow op");
  EXPECT_GT(polls, 3000);
}

TEST(DeviceSelection, NamesAndCpu) {
  EXPECT_EQ(deviceRequestFromName("cuda"), DeviceRequest::Cuda);
  EXPECT_STREQ(deviceRequestName(DeviceRequest::Auto), "auto");
  EXPECT_THROW(deviceRequestFromName("gpu"), Error);
  auto local = makeLocalCommunicator();
  EXPECT_TRUE(selectRankDevice(DeviceRequest::Cpu, *local).isCpu());
  EXPECT_FALSE(sharedGpuConflict(*local, Device::cpu()).has_value());
}

TEST(DeviceSelection, CudaWithoutAGpuIsAClearErrorAndAutoFallsBackToTheCpu) {
  if (cudaBuilt() && cudaDeviceCount() > 0) GTEST_SKIP() << "this machine has a GPU";
  auto local = makeLocalCommunicator();
  const std::string err = errorOf([&] { selectRankDevice(DeviceRequest::Cuda, *local); });
  EXPECT_NE(err.find("device: cuda was requested, but rank 0"), std::string::npos) << err;
  EXPECT_NE(err.find("device: cpu"), std::string::npos) << err;
  EXPECT_TRUE(selectRankDevice(DeviceRequest::Auto, *local).isCpu());
  // A GPU communicator cannot start either (no GPU, or no NCCL in this build).
  EXPECT_THROW(makeNcclCommunicator(*local, Device::cuda(0)), Error);
}

TEST(DeviceSelection, AWorldOfOneOnAGpuSharesNothing) {
  if (!cudaBuilt() || cudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  auto local = makeLocalCommunicator();
  Device d = selectRankDevice(DeviceRequest::Auto, *local);
  EXPECT_EQ(d, Device::cuda(0));
  EXPECT_FALSE(sharedGpuConflict(*local, d).has_value());
  EXPECT_EQ(cudaDeviceUuid(0).rfind("GPU-", 0), 0u);
}

TEST(StagedCommunicator, PassesHostTensorsStraightThrough) {
  auto local = makeLocalCommunicator();
  auto staged = makeStagedCommunicator(*local);
  EXPECT_EQ(staged->name(), "staged(local)");
  EXPECT_TRUE(staged->supportsDevice(Device::cuda(0)));
  Tensor x = Tensor::fromVector<float>(Shape{3}, {1, 2, 3});
  staged->allreduce(x, ReduceOp::Average);
  EXPECT_EQ(x.toVector<float>(), (std::vector<float>{1, 2, 3}));
  Tensor all = Tensor::empty(Shape{3});
  staged->allgather(x, all);
  EXPECT_EQ(all.toVector<float>(), x.toVector<float>());
  EXPECT_TRUE(staged->allreduceAsync(x, ReduceOp::Sum)->test());
  EXPECT_THROW(staged->send(x, 1, 0), Error);  // the world of one has no rank 1
}

TEST(PinnedTensor, HoldsValuesLikeAnyHostTensor) {
  Tensor p = Tensor::emptyPinned(Shape{4, 1000}, DType::Float64);
  EXPECT_TRUE(p.device().isCpu());
  EXPECT_EQ(p.bytes(), 4u * 1000u * 8u);
  p.fill(2.5);
  Tensor c = p.clone();
  EXPECT_FALSE(c.pinned());  // a copy is ordinary memory
  EXPECT_EQ(c.toVector<double>(), std::vector<double>(4000, 2.5));
  // Page-locked exactly when a driver and a GPU are there; otherwise plain memory.
  if (!cudaBuilt() || cudaDeviceCount() == 0) EXPECT_FALSE(p.pinned());
  else EXPECT_TRUE(p.pinned());
  EXPECT_EQ(Tensor::emptyPinned(Shape{0}).numel(), 0);
}

}  // namespace
}  // namespace kaon::comm
