// Synchronous data parallelism: W ranks with global batch B compute what one rank computes
// with batch B; gradient buckets overlap backward; ranks that disagree are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kaon/comm/communicator.hpp"
#include "kaon/core/runtime.hpp"
#include "kaon/data/in_memory_dataset.hpp"
#include "kaon/nn/layers/conv.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/pool.hpp"
#include "kaon/nn/layers/reshape.hpp"
#include "kaon/train/gradient_allreducer.hpp"
#include "kaon/train/trainer.hpp"
#include "../support/test_util.hpp"

namespace kaon::train {
namespace {

std::shared_ptr<data::InMemoryDataset> images(std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0, 1);
  Tensor x = Tensor::empty(Shape{n, 2, 8, 8}), y = Tensor::empty(Shape{n});
  for (std::int64_t i = 0; i < n; ++i) {
    y.span<float>()[i] = static_cast<float>(i % 3 == 0);
    for (int k = 0; k < 128; ++k) x.data<float>()[i * 128 + k] = noise(rng) + (k < 64 ? y.span<float>()[i] : 0.0f);
  }
  return std::make_shared<data::InMemoryDataset>(std::vector<Tensor>{x}, std::vector<Tensor>{y});
}

nn::Model cnn(int hidden) {
  nn::Model m;
  m.addInput("x", Shape{2, 8, 8});
  m.add(std::make_unique<nn::Conv>("c1", nn::ConvOptions{.filters = 6, .kernel = {3}, .samePadding = true,
                                                         .activation = ops::Activation::Tanh}));
  m.add(std::make_unique<nn::Pool>("p1", nn::PoolOptions{.window = {2}}));
  m.add(std::make_unique<nn::Conv>("c2", nn::ConvOptions{.filters = 4, .kernel = {3}, .activation = ops::Activation::Relu}));
  m.add(std::make_unique<nn::Reshape>("flat", std::vector<std::int64_t>{}));
  m.add(std::make_unique<nn::Dense>("d1", nn::DenseOptions{.units = hidden, .activation = ops::Activation::Tanh}));
  m.add(std::make_unique<nn::Dense>("out", nn::DenseOptions{.units = 2}));
  m.build(DType::Float32, 11);  // same seed everywhere; the broadcast makes it so anyway
  return m;
}

TrainerOptions options(std::int64_t batchPerRank) {
  TrainerOptions o;
  o.epochs = 2;
  o.batchSize = batchPerRank;
  o.metrics = {"accuracy", "auc"};
  o.progress = false;
  o.seed = 3;
  o.configText = "test";
  return o;
}

TEST(SyncTraining, StrongScalingMatchesOneRankWithTheSameGlobalBatch) {
  auto world = comm::makeWorldCommunicator();
  const int n = world->size();
  const std::int64_t global = 24;  // divisible by 2, 3, 4
  auto data = images(240, 5), val = images(101, 6);  // 10 global steps per epoch -> 20 steps
  auto lr = [](std::int64_t step) { return 0.05 * (1.0 + 0.05 * static_cast<double>(step % 3)); };

  // The reference: this rank alone, whole global batch.
  nn::Model single = cnn(16);
  optim::Sgd sgd1(optim::SgdOptions{.momentum = 0.9});
  sgd1.attach(single.parameters(), single.gradients(), single.trainableRanges());
  Trainer t1(single, sgd1, lr, *data, val.get(), options(global));
  auto r1 = t1.fit();

  // Buckets through MPI_Allreduce (the small ones by default) and all through the ring.
  for (const char* ring : {"auto", "all"}) {
  SCOPED_TRACE(std::string("KAON_ALLREDUCE_RING=") + ring);
  testing::ScopedEnv env("KAON_ALLREDUCE_RING", ring);
  nn::Model shared = cnn(16);
  optim::Sgd sgdN(optim::SgdOptions{.momentum = 0.9});
  sgdN.attach(shared.parameters(), shared.gradients(), shared.trainableRanges());
  TrainerOptions o = options(global / n);
  o.bucketBytes = 512;  // several buckets, so overlap and ordering are exercised
  Trainer tN(shared, sgdN, lr, *data, val.get(), o, world.get());
  auto rN = tN.fit();

  auto a = single.parameters().toVector<float>(), b = shared.parameters().toVector<float>();
  double maxDiff = 0, maxAbs = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    maxDiff = std::max(maxDiff, static_cast<double>(std::abs(a[i] - b[i])));
    maxAbs = std::max(maxAbs, static_cast<double>(std::abs(a[i])));
  }
  EXPECT_LT(maxDiff / maxAbs, 1e-5) << "after 20 steps on " << n << " ranks";
  // Ranks hold identical weights.
  Tensor mine = shared.parameters().clone(), root = shared.parameters().clone();
  world->broadcast(root, 0);
  EXPECT_EQ(mine.toVector<float>(), root.toVector<float>());
  // Validation metrics are exact reductions over the 101 samples (not averages of averages).
  EXPECT_NEAR(rN.back().validation.at("loss"), r1.back().validation.at("loss"), 1e-4);
  EXPECT_NEAR(rN.back().validation.at("accuracy"), r1.back().validation.at("accuracy"), 1.5 / 101);
  EXPECT_NEAR(rN.back().train.at("loss"), r1.back().train.at("loss"), 1e-4);
  }
}

TEST(SyncTraining, BucketsOverlapBackwardAndAverageGradients) {
  auto world = comm::makeWorldCommunicator();
  nn::Model m = cnn(32);
  GradientAllreducer reducer(m, *world, 256);  // small buckets: several per step
  EXPECT_GT(reducer.buckets().size(), 2u);
  std::int64_t covered = 0;
  for (const auto& b : reducer.buckets()) covered += b.count;
  EXPECT_EQ(covered, m.parameterCount());
  // Rank r's input is scaled by (r + 1): the averaged gradient must equal the mean of all ranks'.
  auto data = images(8, 1);
  data::Batch batch = data->allocateBatch(8);
  std::vector<std::int64_t> idx{0, 1, 2, 3, 4, 5, 6, 7};
  data->read(idx, batch);
  auto gradientFor = [&](int rank) {
    Tensor x = batch.inputs[0].clone();
    for (float& v : x.span<float>()) v *= static_cast<float>(rank + 1);
    Tensor y = m.forward(x, true);
    m.zeroGrad();
    return std::make_pair(x, y);
  };
  Tensor expected = Tensor::zeros(m.gradients().shape());
  for (int r = 0; r < world->size(); ++r) {
    auto [x, y] = gradientFor(r);
    m.backward(Tensor::full(y.shape(), 1.0));
    for (std::int64_t i = 0; i < expected.numel(); ++i)
      expected.span<float>()[i] += m.gradients().span<float>()[i] / static_cast<float>(world->size());
  }
  auto [x, y] = gradientFor(world->rank());
  reducer.beginBackward();
  m.backward(Tensor::full(y.shape(), 1.0));
  reducer.finishBackward();
  EXPECT_GT(reducer.bucketsStartedDuringBackward(), 0);
  auto got = m.gradients().toVector<float>();
  for (std::int64_t i = 0; i < expected.numel(); ++i)
    ASSERT_NEAR(got[i], expected.span<float>()[i], 1e-5 * (1 + std::abs(expected.span<float>()[i]))) << i;
}

TEST(SyncTraining, RanksThatDisagreeAreRefused) {
  auto world = comm::makeWorldCommunicator();
  auto data = images(64, 2);
  nn::Model m = cnn(world->rank() == 1 ? 9 : 8);  // rank 1 built a different model
  optim::Sgd sgd;
  sgd.attach(m.parameters(), m.gradients(), m.trainableRanges());
  try {
    Trainer t(m, sgd, [](std::int64_t) { return 0.1; }, *data, nullptr, options(8), world.get());
    FAIL() << "mismatched ranks accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("parameter count"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("rank 1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kaon::train

namespace kaon::train {
namespace {

TEST(SyncTraining, ReproducibleModeIsBitwiseIdenticalAcrossRankCounts) {
  auto world = comm::makeWorldCommunicator();
  setNumThreads(1);  // bitwise equality needs the same kernels, hence the same threads per rank
  auto data = images(192, 8);
  auto lr = [](std::int64_t step) { return 0.05 / (1.0 + 0.1 * static_cast<double>(step)); };
  auto run = [&](comm::Communicator* c, std::int64_t ranks) {
    nn::Model m = cnn(12);
    optim::Sgd sgd(optim::SgdOptions{.momentum = 0.9, .nesterov = true});
    sgd.attach(m.parameters(), m.gradients(), m.trainableRanges());
    TrainerOptions o = options(24 / ranks);  // global batch 24 on every rank count
    o.reproducible = true;
    o.microBatch = 2;  // 12 micro-batches: divides among 1, 2, 3, 4 ranks
    Trainer t(m, sgd, lr, *data, nullptr, o, c);
    t.fit();
    return m.parameters().toVector<float>();
  };
  std::vector<float> single = run(nullptr, 1);
  std::vector<float> shared = run(world.get(), world->size());
  ASSERT_EQ(single.size(), shared.size());
  std::size_t differing = 0;
  for (std::size_t i = 0; i < single.size(); ++i) differing += single[i] != shared[i];
  EXPECT_EQ(differing, 0u) << "weights differ bitwise between 1 and " << world->size() << " ranks";
  setNumThreads(0);
}

}  // namespace
}  // namespace kaon::train
