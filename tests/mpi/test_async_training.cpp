// Downpour SGD and EASGD (synchronous and master/worker) reach the single-rank accuracy bar
// on a small CNN task, report staleness, and end with every rank returning (no hang).
#include <gtest/gtest.h>

#include "../support/test_util.hpp"

#include <random>

#include "kaon/comm/communicator.hpp"
#include "kaon/data/in_memory_dataset.hpp"
#include "kaon/nn/layers/conv.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/pool.hpp"
#include "kaon/nn/layers/reshape.hpp"
#include "kaon/train/async_trainer.hpp"

namespace kaon::train {
namespace {

nn::Model cnn() {
  nn::Model m;
  m.addInput("image", Shape{1, 8, 8});
  m.add(std::make_unique<nn::Conv>("conv", nn::ConvOptions{.filters = 4, .kernel = {3}, .samePadding = true,
                                                           .activation = ops::Activation::Relu}));
  m.add(std::make_unique<nn::Pool>("pool", nn::PoolOptions{.window = {2}}));
  m.add(std::make_unique<nn::Reshape>("flat", std::vector<std::int64_t>{}));
  m.add(std::make_unique<nn::Dense>("out", nn::DenseOptions{.units = 2}));
  m.build(DType::Float32, 3);
  return m;
}

TrainerOptions options() {
  TrainerOptions o;
  o.epochs = 3;
  o.batchSize = 16;
  o.metrics = {"accuracy"};
  o.progress = false;
  o.seed = 5;
  o.configText = "async test";
  o.stallTimeoutSeconds = 120;
  return o;
}

class AsyncTraining : public ::testing::TestWithParam<AsyncOptions::Mode> {};

TEST_P(AsyncTraining, ReachesTheAccuracyBarAndTerminatesCleanly) {
  auto world = comm::makeWorldCommunicator();
  auto train = testing::blobImages(512, 1), val = testing::blobImages(256, 2);
  nn::Model m = cnn();
  optim::Sgd sgd(optim::SgdOptions{.momentum = 0.9});
  sgd.attach(m.parameters(), m.gradients(), m.trainableRanges());
  AsyncOptions a;
  a.mode = GetParam();
  a.pullEvery = 2;
  a.tau = 2;
  AsyncTrainer t(m, sgd, [](std::int64_t) { return 0.05; }, *train, val.get(), options(), a, *world);
  auto results = t.fit();
  if (world->rank() == 0) {
    ASSERT_EQ(results.size(), 3u);  // one validation per epoch of updates, of the master's weights
    EXPECT_GT(results.back().validation.at("accuracy"), 0.95);
    if (a.mode == AsyncOptions::Mode::Downpour) {
      EXPECT_EQ(t.stats().updates, 3 * t.stepsPerEpoch());  // exactly the budget, no more
      EXPECT_GE(t.stats().meanStaleness, 0.0);
      EXPECT_EQ(results.back().train.count("staleness_mean"), 1u);
      if (world->size() > 2) {
        EXPECT_GT(t.stats().maxStaleness, 0);  // several workers: stale updates happen
      }
    }
  } else {
    EXPECT_TRUE(results.empty());
  }
  world->barrier();  // reached by every rank: nobody is left waiting for a message
}

INSTANTIATE_TEST_SUITE_P(Modes, AsyncTraining,
                         ::testing::Values(AsyncOptions::Mode::Downpour, AsyncOptions::Mode::Easgd));

TEST(SyncEasgd, CenterVariableLearnsAndRanksShareIt) {
  auto world = comm::makeWorldCommunicator();
  auto train = testing::blobImages(512, 1), val = testing::blobImages(256, 2);
  nn::Model m = cnn();
  optim::Sgd sgd(optim::SgdOptions{.momentum = 0.9});  // EAMSGD: momentum on each worker
  sgd.attach(m.parameters(), m.gradients(), m.trainableRanges());
  TrainerOptions o = options();
  o.easgd = true;
  o.easgdTau = 2;
  Trainer t(m, sgd, [](std::int64_t) { return 0.05; }, *train, val.get(), o, world.get());
  auto results = t.fit();
  EXPECT_GT(results.back().validation.at("accuracy"), 0.95);
  // Workers differ (they train on their own shards between exchanges)...
  Tensor mine = m.parameters().clone(), root = m.parameters().clone();
  world->broadcast(root, 0);
  double diff = 0;
  for (std::int64_t i = 0; i < mine.numel(); ++i) diff += std::abs(mine.span<float>()[i] - root.span<float>()[i]);
  if (world->rank() != 0) {
    EXPECT_GT(diff, 0.0);
  }
}

}  // namespace
}  // namespace kaon::train
