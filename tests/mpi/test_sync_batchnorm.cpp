// Synchronised batch norm (trainer.sync_batchnorm): W ranks, each with a W-th of the global
// batch, train a batch-norm CNN to the weights (and running statistics) one rank computes with
// the whole batch; without synchronisation the ranks normalise their own shards and differ.
#include <gtest/gtest.h>

#include <cmath>

#include "../support/test_util.hpp"
#include "kaon/comm/communicator.hpp"
#include "kaon/nn/layers/activation.hpp"
#include "kaon/nn/layers/batch_norm.hpp"
#include "kaon/nn/layers/conv.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/pool.hpp"
#include "kaon/nn/layers/reshape.hpp"
#include "kaon/train/trainer.hpp"

namespace kaon::train {
namespace {

using kaon::testing::normalisedError;

nn::Model bnCnn() {
  nn::Model m;
  m.addInput("image", Shape{1, 8, 8});
  m.add(std::make_unique<nn::Conv>("conv", nn::ConvOptions{.filters = 4, .kernel = {3}, .samePadding = true}));
  m.add(std::make_unique<nn::BatchNorm>("bn1", nn::BatchNormOptions{.momentum = 0.9}));
  m.add(std::make_unique<nn::ActivationLayer>("relu", ops::Activation::Relu));
  m.add(std::make_unique<nn::Pool>("pool", nn::PoolOptions{.window = {2}}));
  m.add(std::make_unique<nn::Reshape>("flat", std::vector<std::int64_t>{}));
  m.add(std::make_unique<nn::Dense>("hidden", nn::DenseOptions{.units = 8}));
  m.add(std::make_unique<nn::BatchNorm>("bn2", nn::BatchNormOptions{.momentum = 0.9}));  // on [N, C] features
  m.add(std::make_unique<nn::Dense>("out", nn::DenseOptions{.units = 2}));
  m.build(DType::Float32, 7);
  return m;
}

struct TrainedState {
  Tensor params, buffers;
};

TrainedState train(comm::Communicator* comm, std::int64_t batchPerRank, bool sync) {
  auto data = testing::blobImages(144, 1);  // 6 global batches of 24 per epoch, 2 epochs: 12 steps
  nn::Model m = bnCnn();
  optim::Sgd sgd(optim::SgdOptions{.momentum = 0.9});
  sgd.attach(m.parameters(), m.gradients(), m.trainableRanges());
  TrainerOptions o;
  o.epochs = 2;
  o.batchSize = batchPerRank;
  o.progress = false;
  o.seed = 9;
  o.configText = "sync bn test";
  o.syncBatchNorm = sync;
  o.bucketBytes = 256;  // several buckets: the batch-norm sums interleave with bucket allreduces
  Trainer t(m, sgd, [](std::int64_t) { return 0.05; }, *data, nullptr, o, comm);
  t.fit();
  return {m.parameters().clone(), m.buffers().clone()};
}

TEST(SyncBatchNorm, RanksTrainLikeOneRankWithTheWholeBatch) {
  auto world = comm::makeWorldCommunicator();
  const int n = world->size();
  const std::int64_t global = 24;
  TrainedState single = train(nullptr, global, false);
  TrainedState synced = train(world.get(), global / n, true);
  EXPECT_LT(normalisedError(synced.params, single.params), 1e-5) << n << " ranks, 12 steps";
  EXPECT_LT(normalisedError(synced.buffers, single.buffers), 1e-5) << "running statistics";
  // Every rank computed the same running statistics (no averaging needed).
  Tensor root = synced.buffers.clone();
  world->broadcast(root, 0);
  EXPECT_LT(normalisedError(synced.buffers, root), 1e-6);
  // Local statistics (plain data parallelism) compute something else.
  TrainedState local = train(world.get(), global / n, false);
  EXPECT_GT(normalisedError(local.params, single.params), 1e-3);
}

}  // namespace
}  // namespace kaon::train
