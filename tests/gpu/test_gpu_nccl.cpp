// The NCCL communicator on one GPU (a world of one rank: the lent machines have one GPU, and NCCL
// refuses two ranks on one GPU; tests/gpu/test_gpu_mpi.cpp covers several ranks): collectives
// give the right values, host tensors go to the communicator underneath, NCCL's stream waits for
// the compute stream, and a request that never completes hits the timeout with a clear error
// instead of hanging.
#include <chrono>

#include "cuda/cuda_context.hpp"
#include "gpu_util.hpp"
#include "kaon/comm/communicator.hpp"
#include "kaon/ops/elementwise.hpp"
#include "stream_blocker.hpp"

namespace kaon {
namespace {

using namespace gputest;
using Clock = std::chrono::steady_clock;

#define KAON_REQUIRE_NCCL()                                         \
  do {                                                              \
    KAON_REQUIRE_GPU();                                             \
    if (!comm::ncclBuilt()) GTEST_SKIP() << "built without NCCL";   \
  } while (0)

TEST(GpuNccl, CollectivesOnOneRank) {
  KAON_REQUIRE_NCCL();
  auto local = comm::makeLocalCommunicator();
  auto nccl = comm::makeNcclCommunicator(*local, gpu());
  EXPECT_EQ(nccl->name(), "nccl");
  EXPECT_EQ(nccl->size(), 1);
  EXPECT_TRUE(nccl->supportsDevice(gpu()));
  EXPECT_TRUE(nccl->supportsDevice(Device::cpu()));
  for (DType dt : {DType::Float32, DType::Float64}) {
    Tensor x = testing::randomTensor(Shape{1000, 3}, 4, dt);
    for (auto op : {comm::ReduceOp::Sum, comm::ReduceOp::Average, comm::ReduceOp::Max, comm::ReduceOp::Min}) {
      Tensor g = toGpu(x);
      nccl->allreduce(g, op);  // one rank: every reduction is the identity
      EXPECT_GPU_CLOSE(g, x, 0.0);
    }
    Tensor g = toGpu(x);
    auto request = nccl->allreduceAsync(g, comm::ReduceOp::Sum);
    request->wait();
    EXPECT_TRUE(request->test());
    EXPECT_GPU_CLOSE(g, x, 0.0);
    nccl->broadcast(g, 0);
    EXPECT_GPU_CLOSE(g, x, 0.0);
    Tensor all = Tensor::zeros(Shape{1000, 3}, dt, gpu());  // out of place: NCCL really copies
    nccl->allgather(g, all);
    EXPECT_GPU_CLOSE(all, x, 0.0);
  }
  // The compute stream's later work sees the result of a request: scale right after it.
  Tensor ones = Tensor::full(Shape{1 << 20}, 1.0).to(gpu());
  auto r = nccl->allreduceAsync(ones, comm::ReduceOp::Sum);
  r->wait();
  ops::scaleInPlace(ones, 3.0);
  EXPECT_EQ(ops::sum(ones), 3.0 * (1 << 20));
  nccl->barrier();
  // Host values (metrics) go to the communicator underneath.
  EXPECT_EQ(nccl->allreduce(std::vector<double>{2.5, 4}, comm::ReduceOp::Sum), (std::vector<double>{2.5, 4}));
  EXPECT_EQ(nccl->allgather(7.0), std::vector<double>{7.0});
  // What NCCL cannot do, or a rank that does not exist, is an error.
  Tensor buf = Tensor::zeros(Shape{4}, DType::Float32, gpu());
  EXPECT_THROW(nccl->recvAny(buf, 0), NotImplemented);
  EXPECT_THROW(nccl->send(buf, 1, 0), Error);
  EXPECT_THROW(nccl->broadcast(buf, 2), Error);
  auto half = nccl->split(0, 0);
  EXPECT_EQ(half->size(), 1);
  EXPECT_EQ(half->name(), "nccl");
  Tensor four = Tensor::full(Shape{4}, 2.0).to(gpu());
  half->allreduce(four, comm::ReduceOp::Sum);
  EXPECT_EQ(ops::sum(four), 8.0);
}

TEST(GpuNccl, TheNcclStreamWaitsForTheComputeStream) {
  KAON_REQUIRE_NCCL();
  auto local = comm::makeLocalCommunicator();
  auto nccl = comm::makeNcclCommunicator(*local, gpu(), {30.0});
  Tensor x = Tensor::zeros(Shape{256}, DType::Float32, gpu());
  Tensor all = Tensor::zeros(Shape{256}, DType::Float32, gpu());
  std::unique_ptr<comm::Request> request;
  {
    StreamBlocker blocked(kaon::cuda::computeStream(0), std::chrono::seconds(20));
    // The gradient bucket's "producers" are held on the compute stream: the allreduce must wait.
    request = nccl->allreduceAsync(x, comm::ReduceOp::Sum);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_FALSE(request->test()) << "the NCCL operation did not wait for the compute stream";
    blocked.release();
  }
  request->wait();
  EXPECT_TRUE(request->test());
  nccl->allgather(x, all);
  EXPECT_EQ(ops::sum(all), 0.0);
}

// Run on its own (ctest gives each test a process): after an abort the GPU is not reused here.
TEST(GpuNcclTimeout, ARequestThatNeverCompletesAbortsWithAClearError) {
  KAON_REQUIRE_NCCL();
  auto local = comm::makeLocalCommunicator();
  auto nccl = comm::makeNcclCommunicator(*local, gpu(), {1.0});
  Tensor x = Tensor::zeros(Shape{256}, DType::Float32, gpu());
  std::string message;
  double took = 0;
  {
    // The stream stays blocked past the timeout (the releaser frees it after 6 s at the latest).
    StreamBlocker blocked(kaon::cuda::computeStream(0), std::chrono::seconds(6));
    const auto start = Clock::now();
    auto request = nccl->allreduceAsync(x, comm::ReduceOp::Sum);
    try {
      request->wait();
    } catch (const Error& e) {
      message = e.what();
    }
    took = std::chrono::duration<double>(Clock::now() - start).count();
    blocked.release();
  }
  EXPECT_NE(message.find("rank 0: NCCL allreduce of 256 float32 values"), std::string::npos) << message;
  EXPECT_NE(message.find("did not complete within 1 s"), std::string::npos) << message;
  EXPECT_NE(message.find("aborted"), std::string::npos) << message;
  EXPECT_GE(took, 1.0);
  // ncclCommAbort cannot finish while the operation waits on the held stream; the error comes
  // after the timeout plus at most a second of waiting for it, long before the release at 6 s.
  EXPECT_LT(took, 4.0) << "the timeout did not end the wait";
  // The communicator stays unusable, with the reason.
  try {
    nccl->allreduce(x, comm::ReduceOp::Sum);
    ADD_FAILURE() << "an aborted communicator accepted work";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("aborted after an earlier failure"), std::string::npos) << e.what();
  }
  cudaSynchronize(0);
}

TEST(GpuStaged, HostStagingOverAWorldOfOneKeepsValues) {
  KAON_REQUIRE_GPU();
  auto local = comm::makeLocalCommunicator();
  auto staged = comm::makeStagedCommunicator(*local);
  Tensor x = testing::randomTensor(Shape{77}, 9);
  Tensor g = toGpu(x);
  staged->allreduce(g, comm::ReduceOp::Average);
  EXPECT_GPU_CLOSE(g, x, 0.0);
  auto r = staged->allreduceAsync(g, comm::ReduceOp::Sum);
  r->wait();
  EXPECT_GPU_CLOSE(g, x, 0.0);
}

}  // namespace
}  // namespace kaon
