// Downpour SGD and EASGD (synchronous and master/worker) reach the single-rank accuracy bar
// on a small CNN task, report staleness, and end with every rank returning (no hang); runs
// interrupted (at an epoch end, by a signal) and resumed continue with the master's counters,
// weights and optimizer state (with one worker: bitwise as uninterrupted); resuming with
// another strategy is an error naming the keys.
#include <gtest/gtest.h>

#include "../support/test_util.hpp"

#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <random>

#include "kaon/comm/communicator.hpp"
#include "kaon/data/in_memory_dataset.hpp"
#include "kaon/nn/layers/conv.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/pool.hpp"
#include "kaon/nn/layers/reshape.hpp"
#include "kaon/train/async_trainer.hpp"
#include "kaon/train/run_control.hpp"

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

// ---- hierarchical Downpour (run by ctest at 6 ranks: top master, 2 sub-masters, 3 workers) --

TEST(HierarchicalDownpour, ReachesTheAccuracyBarAndTerminatesCleanly) {
  auto world = comm::makeWorldCommunicator();
  if (world->size() < 5) GTEST_SKIP() << "needs a top master, 2 sub-masters and a worker each (5+ ranks)";
  auto train = testing::blobImages(512, 1), val = testing::blobImages(256, 2);
  nn::Model m = cnn();
  optim::Sgd sgd(optim::SgdOptions{.momentum = 0.9});
  sgd.attach(m.parameters(), m.gradients(), m.trainableRanges());
  AsyncOptions a;
  a.masters = 2;
  a.exchangeEvery = 4;
  a.pullEvery = 2;
  AsyncTrainer t(m, sgd, [](std::int64_t) { return 0.05; }, *train, val.get(), options(), a, *world);
  EXPECT_EQ(t.strategyName(), "downpour-hierarchical");
  auto results = t.fit();
  if (world->rank() == 0) {
    ASSERT_EQ(results.size(), 3u);  // validations of the top master's weights, one per epoch of updates
    EXPECT_GT(results.back().validation.at("accuracy"), 0.95);
    EXPECT_EQ(t.updates(), 3 * t.stepsPerEpoch());  // the groups' shares add up to the budget exactly
    EXPECT_EQ(t.stats().updates, 3 * t.stepsPerEpoch());
    EXPECT_GE(t.stats().exchanges, 2);  // at least each sub-master's last change
    EXPECT_GT(t.stats().maxExchangeStaleness, 0);  // two sub-masters: the top moved between a sync and the next
    EXPECT_EQ(results.back().train.count("exchange_staleness_mean"), 1u);
  } else {
    EXPECT_TRUE(results.empty());
  }
  world->barrier();  // every rank got here: nothing was left in flight
}

TEST(HierarchicalDownpour, TooFewRanksIsAnErrorNamingTheKey) {
  auto world = comm::makeWorldCommunicator();
  auto train = testing::blobImages(64, 1);
  nn::Model m = cnn();
  optim::Sgd sgd;
  sgd.attach(m.parameters(), m.gradients(), m.trainableRanges());
  AsyncOptions a;
  a.masters = world->size();  // never enough: each sub-master needs a worker
  try {
    AsyncTrainer t(m, sgd, [](std::int64_t) { return 0.05; }, *train, nullptr, options(), a, *world);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("trainer.downpour.masters"), std::string::npos) << e.what();
  }
}

// ---- resume ----------------------------------------------------------------------------

// A directory every rank names alike (rank 0's pid), fresh for each call.
std::string sharedDir(comm::Communicator& world, const std::string& what) {
  auto pid = static_cast<long long>(world.allgather(static_cast<double>(::getpid()))[0]);
  auto dir = std::filesystem::temp_directory_path() / fmt::format("kaon_async_{}_{}_np{}", what, pid, world.size());
  world.barrier();
  if (world.rank() == 0) std::filesystem::remove_all(dir);
  world.barrier();
  return dir.string();
}

struct AsyncRun {
  nn::Model model = cnn();
  optim::Sgd sgd{optim::SgdOptions{.momentum = 0.9}};
  std::unique_ptr<AsyncTrainer> trainer;
  std::vector<EpochResult> results;
  AsyncRun(comm::Communicator& world, AsyncOptions::Mode mode, int epochs, const std::string& dir,
           std::function<void(std::int64_t)> afterStep = {}) {
    static auto train = testing::blobImages(256, 1), val = testing::blobImages(128, 2);
    sgd.attach(model.parameters(), model.gradients(), model.trainableRanges());
    TrainerOptions o = options();
    o.epochs = epochs;
    o.checkpointDir = dir;
    o.afterStep = std::move(afterStep);
    AsyncOptions a;
    a.mode = mode;
    a.tau = 2;
    trainer = std::make_unique<AsyncTrainer>(model, sgd, [](std::int64_t s) { return 0.05 / (1.0 + 0.01 * s); },
                                             *train, val.get(), o, a, world);
  }
};

TEST_P(AsyncTraining, ResumesFromAnEpochCheckpointWithTheMastersState) {
  auto world = comm::makeWorldCommunicator();
  const AsyncOptions::Mode mode = GetParam();
  const std::string dir = sharedDir(*world, "epoch");
  AsyncRun whole(*world, mode, 2, "");
  whole.results = whole.trainer->fit();
  AsyncRun first(*world, mode, 1, dir);
  first.trainer->fit();
  const std::int64_t perEpoch = first.trainer->stepsPerEpoch();
  AsyncRun resumed(*world, mode, 2, dir);
  resumed.trainer->resumeFrom(dir + "/checkpoint.h5");
  // Every rank now holds the master's weights (EASGD: the center) of the end of epoch 1.
  Tensor root = first.model.parameters().clone();
  world->broadcast(root, 0);
  EXPECT_EQ(resumed.model.parameters().toVector<float>(), root.toVector<float>());
  resumed.results = resumed.trainer->fit();
  if (world->rank() == 0) {
    EXPECT_EQ(first.trainer->updates(), mode == AsyncOptions::Mode::Downpour ? perEpoch : first.trainer->updates());
    ASSERT_EQ(resumed.results.size(), 1u);  // only epoch 2 is left
    EXPECT_EQ(resumed.results[0].epoch, 2);
    EXPECT_GE(resumed.trainer->updates(), 2 * perEpoch);
    EXPECT_GT(resumed.results[0].validation.at("accuracy"), 0.7);  // learning continued (chance: 0.5)
    if (mode == AsyncOptions::Mode::Downpour) {
      EXPECT_EQ(resumed.trainer->updates(), 2 * perEpoch);  // the counter continued from the checkpoint
      EXPECT_EQ(resumed.trainer->stats().updates, 2 * perEpoch);
      // One worker is deterministic: resumed equals uninterrupted, bit for bit.
      if (world->size() == 2) {
        EXPECT_EQ(resumed.model.parameters().toVector<float>(), whole.model.parameters().toVector<float>());
      }
    }
  }
  world->barrier();
}

TEST(AsyncResume, ASignalStopsDownpourWhichThenResumesToTheBudget) {
  auto world = comm::makeWorldCommunicator();
  const std::string dir = sharedDir(*world, "signal");
  AsyncRun whole(*world, AsyncOptions::Mode::Downpour, 2, "");
  whole.trainer->fit();
  AsyncRun stopped(*world, AsyncOptions::Mode::Downpour, 2, dir, [&](std::int64_t updates) {
    if (world->rank() == 0 && updates == 5) std::raise(SIGUSR1);  // the master, mid-epoch
  });
  stopped.results = stopped.trainer->fit();
  StopSignals::reset();
  AsyncRun resumed(*world, AsyncOptions::Mode::Downpour, 2, dir);
  resumed.trainer->resumeFrom(dir + "/checkpoint.h5");
  resumed.results = resumed.trainer->fit();
  if (world->rank() == 0) {
    EXPECT_TRUE(stopped.trainer->interrupted());
    EXPECT_EQ(stopped.trainer->updates(), 5);
    EXPECT_TRUE(stopped.results.empty());
    EXPECT_EQ(resumed.trainer->updates(), 2 * resumed.trainer->stepsPerEpoch());
    EXPECT_EQ(resumed.results.size(), 2u);
    if (world->size() == 2) {
      EXPECT_EQ(resumed.model.parameters().toVector<float>(), whole.model.parameters().toVector<float>());
    }
  }
  world->barrier();
}

TEST(AsyncResume, AnotherStrategyIsAnErrorNamingTheKeys) {
  auto world = comm::makeWorldCommunicator();
  const std::string dir = sharedDir(*world, "mismatch");
  AsyncRun(*world, AsyncOptions::Mode::Downpour, 1, dir).trainer->fit();
  const std::string path = dir + "/checkpoint.h5";
  auto message = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  AsyncRun easgd(*world, AsyncOptions::Mode::Easgd, 1, dir);
  std::string m = message([&] { easgd.trainer->resumeFrom(path); });
  if (world->rank() == 0) {
    EXPECT_NE(m.find("'downpour' run, this run is 'easgd-async'"), std::string::npos) << m;
    EXPECT_NE(m.find("trainer.mode"), std::string::npos) << m;
  } else {
    EXPECT_NE(m.find("rank 0 could not resume"), std::string::npos) << m;  // every rank fails, none hangs
  }
  // The synchronous trainer checks the strategy too.
  nn::Model model = cnn();
  optim::Sgd sgd(optim::SgdOptions{.momentum = 0.9});
  sgd.attach(model.parameters(), model.gradients(), model.trainableRanges());
  auto data = testing::blobImages(64, 1);
  Trainer sync(model, sgd, [](std::int64_t) { return 0.05; }, *data, nullptr, options(), world.get());
  m = message([&] { sync.resumeFrom(path); });
  EXPECT_NE(m.find("'downpour' run, this run is 'sync'"), std::string::npos) << m;
  world->barrier();
}

}  // namespace
}  // namespace kaon::train
