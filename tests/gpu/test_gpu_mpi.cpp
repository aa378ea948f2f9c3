// GPU models over several ranks (run by ctest under mpiexec -n 2). With a GPU per rank: NCCL
// collectives across ranks and synchronous training equal to one rank with the same global
// batch. With ranks sharing a GPU (any GPU machine): the staged (host) path for synchronous,
// Downpour and EASGD training. Every test skips, on every rank together, without the GPUs.
#include <gtest/gtest.h>

#include "../support/test_util.hpp"
#include "kaon/comm/communicator.hpp"
#include "kaon/comm/device_selection.hpp"
#include "kaon/core/runtime.hpp"
#include "kaon/nn/layers/conv.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/pool.hpp"
#include "kaon/nn/layers/reshape.hpp"
#include "kaon/train/async_trainer.hpp"
#include "kaon/train/trainer.hpp"

namespace kaon {
namespace {

// Whether every rank can run: `ownGpu` asks for one GPU per rank of a node, else any GPU.
bool everyRankHas(comm::Communicator& world, bool ownGpu) {
  const int gpus = cudaBuilt() ? cudaDeviceCount() : 0;
  const bool ok = ownGpu ? gpus >= world.localSize() : gpus >= 1;
  return world.allreduce(std::vector<double>{ok ? 1.0 : 0.0}, comm::ReduceOp::Min)[0] > 0;
}
#define KAON_REQUIRE_GPUS(world, own)                                                                    \
  do {                                                                                                   \
    if (!everyRankHas(world, own)) GTEST_SKIP() << (own ? "needs one GPU per rank" : "needs a GPU");   \
  } while (0)

nn::Model cnn(Device device) {
  nn::Model m;
  m.addInput("image", Shape{1, 8, 8});
  m.add(std::make_unique<nn::Conv>("conv", nn::ConvOptions{.filters = 6, .kernel = {3}, .samePadding = true,
                                                           .activation = ops::Activation::Tanh}));
  m.add(std::make_unique<nn::Pool>("pool", nn::PoolOptions{.window = {2}}));
  m.add(std::make_unique<nn::Reshape>("flat", std::vector<std::int64_t>{}));
  m.add(std::make_unique<nn::Dense>("hidden", nn::DenseOptions{.units = 16, .activation = ops::Activation::Tanh}));
  m.add(std::make_unique<nn::Dense>("out", nn::DenseOptions{.units = 2}));
  m.build(DType::Float32, 13, device);
  return m;
}

train::TrainerOptions options(std::int64_t batch) {
  train::TrainerOptions o;
  o.epochs = 2;
  o.batchSize = batch;
  o.metrics = {"accuracy"};
  o.progress = false;
  o.seed = 3;
  o.configText = "gpu mpi test";
  o.stallTimeoutSeconds = 120;
  o.bucketBytes = 1024;  // several buckets
  return o;
}

TEST(GpuMpiNccl, CollectivesAcrossRanks) {
  auto world = comm::makeWorldCommunicator();
  KAON_REQUIRE_GPUS(*world, true);
  const int r = world->rank(), n = world->size();
  Device d = comm::selectRankDevice(comm::DeviceRequest::Cuda, *world);
  auto nccl = comm::makeNcclCommunicator(*world, d, {60.0});
  Tensor x = Tensor::full(Shape{1000}, r + 1.0).to(d);
  nccl->allreduce(x, comm::ReduceOp::Sum);
  EXPECT_EQ(x.to(Device::cpu()).item(999), n * (n + 1) / 2.0);
  Tensor a = Tensor::full(Shape{5}, 2.0 * r, DType::Float64).to(d);
  nccl->allreduceAsync(a, comm::ReduceOp::Average)->wait();
  EXPECT_DOUBLE_EQ(a.to(Device::cpu()).item(0), n - 1.0);
  Tensor b = Tensor::full(Shape{7}, r == 1 ? 5.0 : 0.0).to(d);
  nccl->broadcast(b, 1);
  EXPECT_EQ(b.to(Device::cpu()).toVector<float>(), std::vector<float>(7, 5.0f));
  Tensor all = Tensor::zeros(Shape{n * 3}, DType::Float32, d);
  nccl->allgather(Tensor::full(Shape{3}, r).to(d), all);
  auto got = all.to(Device::cpu()).toVector<float>();
  for (int k = 0; k < n * 3; ++k) EXPECT_EQ(got[k], k / 3);
  // A ring of sends: receive from the left while sending to the right.
  Tensor out = Tensor::full(Shape{4}, 10.0 + r).to(d), in = Tensor::zeros(Shape{4}, DType::Float32, d);
  auto recv = nccl->recvAsync(in, (r + n - 1) % n, 0);
  auto send = nccl->sendAsync(out, (r + 1) % n, 0);
  send->wait();
  recv->wait();
  EXPECT_EQ(in.to(Device::cpu()).item(3), 10.0 + (r + n - 1) % n);
  auto half = nccl->split(r % 2, r);
  Tensor one = Tensor::full(Shape{1}, 1.0).to(d);
  half->allreduce(one, comm::ReduceOp::Sum);
  EXPECT_EQ(one.to(Device::cpu()).item(0), half->size());
  nccl->barrier();
}

// W ranks with global batch B on W GPUs compute what one GPU computes with batch B.
void expectMatchesOneRank(comm::Communicator& world, comm::Communicator& deviceComm, Device d) {
  const int n = world.size();
  const std::int64_t global = 24;
  auto data = testing::blobImages(240, 5), val = testing::blobImages(60, 6);
  auto lr = [](std::int64_t step) { return 0.05 * (1.0 + 0.05 * static_cast<double>(step % 3)); };
  nn::Model single = cnn(d);
  optim::Sgd sgd1(optim::SgdOptions{.momentum = 0.9});
  sgd1.attach(single.parameters(), single.gradients(), single.trainableRanges());
  train::Trainer t1(single, sgd1, lr, *data, val.get(), options(global));
  auto r1 = t1.fit();
  nn::Model shared = cnn(d);
  optim::Sgd sgdN(optim::SgdOptions{.momentum = 0.9});
  sgdN.attach(shared.parameters(), shared.gradients(), shared.trainableRanges());
  train::Trainer tN(shared, sgdN, lr, *data, val.get(), options(global / n), &deviceComm);
  auto rN = tN.fit();
  EXPECT_TRUE(testing::tensorsClose(shared.parameters().to(Device::cpu()), single.parameters().to(Device::cpu()), 1e-5));
  Tensor mine = shared.parameters().to(Device::cpu()), root = mine.clone();
  world.broadcast(root, 0);
  EXPECT_EQ(mine.toVector<float>(), root.toVector<float>()) << "ranks hold different weights";
  EXPECT_NEAR(rN.back().validation.at("loss"), r1.back().validation.at("loss"), 1e-4);
  EXPECT_NEAR(rN.back().train.at("loss"), r1.back().train.at("loss"), 1e-4);
}

TEST(GpuMpiNccl, SyncTrainingMatchesOneRankWithTheSameGlobalBatch) {
  auto world = comm::makeWorldCommunicator();
  KAON_REQUIRE_GPUS(*world, true);
  Device d = comm::selectRankDevice(comm::DeviceRequest::Cuda, *world);
  auto nccl = comm::makeDeviceCommunicator(*world, d, comm::DeviceTransport::Nccl, 120);
  expectMatchesOneRank(*world, *nccl, d);
}

TEST(GpuMpiStaged, SharedGpuSyncTrainingMatchesOneRank) {
  auto world = comm::makeWorldCommunicator();
  KAON_REQUIRE_GPUS(*world, false);
  Device d = comm::selectRankDevice(comm::DeviceRequest::Cuda, *world, {.allowSharedGpus = true});
  auto staged = comm::makeDeviceCommunicator(*world, d, comm::DeviceTransport::Mpi, 120);
  EXPECT_EQ(staged->name(), "staged(mpi)");
  expectMatchesOneRank(*world, *staged, d);
}

TEST(GpuMpiStaged, SharedGpuWithoutPermissionIsRefusedNamingTheRanks) {
  auto world = comm::makeWorldCommunicator();
  KAON_REQUIRE_GPUS(*world, false);
  if (cudaDeviceCount() >= world->localSize()) GTEST_SKIP() << "every rank has its own GPU here";
  try {
    comm::selectRankDevice(comm::DeviceRequest::Cuda, *world);
    ADD_FAILURE() << "two ranks on one GPU were accepted";
  } catch (const Error& e) {
    // Ranks of the pair give the GPU and host; any other rank names the pair.
    const std::string m = e.what();
    EXPECT_TRUE(m.find("ranks 0 and 1 would share one GPU") != std::string::npos ||
                m.find("use the same GPU") != std::string::npos) << m;
    EXPECT_NE(m.find("gpu.share: true"), std::string::npos) << m;
  }
}

class GpuMpiAsync : public ::testing::TestWithParam<train::AsyncOptions::Mode> {};

TEST_P(GpuMpiAsync, MasterWorkerTrainingOfAGpuModelLearns) {
  auto world = comm::makeWorldCommunicator();
  KAON_REQUIRE_GPUS(*world, false);
  Device d = comm::selectRankDevice(comm::DeviceRequest::Cuda, *world, {.allowSharedGpus = true});
  auto data = testing::blobImages(512, 1), val = testing::blobImages(256, 2);
  nn::Model m = cnn(d);
  optim::Sgd sgd(optim::SgdOptions{.momentum = 0.9});
  sgd.attach(m.parameters(), m.gradients(), m.trainableRanges());
  train::AsyncOptions a;
  a.mode = GetParam();
  a.pullEvery = 2;
  a.tau = 2;
  train::TrainerOptions o = options(16);
  o.epochs = 3;
  // Plain MPI communicator: the trainer stages GPU buffers through host memory.
  train::AsyncTrainer t(m, sgd, [](std::int64_t) { return 0.05; }, *data, val.get(), o, a, *world);
  auto results = t.fit();
  if (world->rank() == 0) {
    ASSERT_EQ(results.size(), 3u);
    EXPECT_GT(results.back().validation.at("accuracy"), 0.95);
  }
  world->barrier();
}

INSTANTIATE_TEST_SUITE_P(Modes, GpuMpiAsync,
                         ::testing::Values(train::AsyncOptions::Mode::Downpour, train::AsyncOptions::Mode::Easgd));

TEST(GpuMpiStaged, SyncEasgdCenterOfAGpuModelLearns) {
  auto world = comm::makeWorldCommunicator();
  KAON_REQUIRE_GPUS(*world, false);
  Device d = comm::selectRankDevice(comm::DeviceRequest::Cuda, *world, {.allowSharedGpus = true});
  auto data = testing::blobImages(512, 1), val = testing::blobImages(256, 2);
  nn::Model m = cnn(d);
  optim::Sgd sgd(optim::SgdOptions{.momentum = 0.9});
  sgd.attach(m.parameters(), m.gradients(), m.trainableRanges());
  train::TrainerOptions o = options(16);
  o.epochs = 3;
  o.easgd = true;
  o.easgdTau = 2;
  // Given plain MPI and a GPU model, the trainer layers NCCL (own GPUs) or host staging over it.
  train::Trainer t(m, sgd, [](std::int64_t) { return 0.05; }, *data, val.get(), o, world.get());
  auto results = t.fit();
  EXPECT_GT(results.back().validation.at("accuracy"), 0.95);
}

}  // namespace
}  // namespace kaon
