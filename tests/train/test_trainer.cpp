// Trainer: learning through the full loop, metrics file, checkpoint round trip, atomic
// writes, and resume that reproduces an uninterrupted run bit for bit.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "../support/test_util.hpp"
#include "kaon/data/in_memory_dataset.hpp"
#include "kaon/nn/layers/conv.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/pool.hpp"
#include "kaon/nn/layers/reshape.hpp"
#include "kaon/train/checkpoint.hpp"
#include "kaon/train/trainer.hpp"

namespace kaon::train {
namespace {

namespace fs = std::filesystem;

fs::path freshDir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("kaon_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

nn::Model smallCnn(std::uint64_t seed) {
  nn::Model m;
  m.addInput("image", Shape{1, 8, 8});
  m.add(std::make_unique<nn::Conv>("conv", nn::ConvOptions{.filters = 4, .kernel = {3}, .samePadding = true,
                                                           .activation = ops::Activation::Relu}));
  m.add(std::make_unique<nn::Pool>("pool", nn::PoolOptions{.window = {2}}));
  m.add(std::make_unique<nn::Reshape>("flat", std::vector<std::int64_t>{}));
  m.add(std::make_unique<nn::Dense>("out", nn::DenseOptions{.units = 2}));
  m.build(DType::Float32, seed);
  return m;
}

TrainerOptions baseOptions() {
  TrainerOptions o;
  o.epochs = 3;
  o.batchSize = 16;
  o.metrics = {"accuracy", "auc"};
  o.progress = false;
  o.seed = 5;
  return o;
}

TEST(Trainer, LearnsAndWritesMetrics) {
  fs::path dir = freshDir("learn");
  auto trainData = testing::blobImages(512, 1), valData = testing::blobImages(256, 2);
  nn::Model m = smallCnn(3);
  optim::Sgd sgd(optim::SgdOptions{.momentum = 0.9});
  sgd.attach(m.parameters(), m.gradients(), m.trainableRanges());
  TrainerOptions o = baseOptions();
  o.metricsFile = (dir / "metrics.csv").string();
  Trainer t(m, sgd, [](std::int64_t) { return 0.05; }, *trainData, valData.get(), o);
  auto results = t.fit();
  ASSERT_EQ(results.size(), 3u);
  EXPECT_GT(results.back().validation.at("accuracy"), 0.95);
  EXPECT_GT(results.back().validation.at("auc"), 0.98);
  EXPECT_LT(results.back().train.at("loss"), results.front().train.at("loss"));
  std::ifstream csv(o.metricsFile);
  std::string header, line;
  std::getline(csv, header);
  EXPECT_NE(header.find("val_accuracy"), std::string::npos);
  int rows = 0;
  while (std::getline(csv, line)) ++rows;
  EXPECT_EQ(rows, 3);
}

TEST(Checkpoint, RoundTripsEverythingAndRejectsMismatches) {
  fs::path dir = freshDir("roundtrip");
  nn::Model a = smallCnn(1);
  optim::Sgd sgd(optim::SgdOptions{.momentum = 0.9});
  sgd.attach(a.parameters(), a.gradients(), a.trainableRanges());
  a.gradients().copyFrom(testing::randomTensor(a.gradients().shape(), 3));
  sgd.step(0.1);  // non-zero momentum state
  a.setForwardStep(17);
  std::string path = (dir / "ck.h5").string();
  saveCheckpoint(path, a, sgd, TrainingProgress{2, 5, 37}, "version: 1\n");
  nn::Model b = smallCnn(99);
  optim::Sgd sgd2(optim::SgdOptions{.momentum = 0.9});
  sgd2.attach(b.parameters(), b.gradients(), b.trainableRanges());
  TrainingProgress p = loadCheckpoint(path, b, sgd2);
  EXPECT_EQ(p.epoch, 2);
  EXPECT_EQ(p.stepInEpoch, 5);
  EXPECT_EQ(p.globalStep, 37);
  EXPECT_EQ(b.forwardStep(), 17u);
  EXPECT_EQ(sgd2.stepCount(), 1);
  EXPECT_EQ(b.parameters().toVector<float>(), a.parameters().toVector<float>());
  EXPECT_EQ(sgd2.state()[0].second.toVector<float>(), sgd.state()[0].second.toVector<float>());
  EXPECT_EQ(checkpointConfig(path), "version: 1\n");
  // A different architecture is refused with the name of the mismatch.
  nn::Model other;
  other.addInput("image", Shape{1, 8, 8});
  other.add(std::make_unique<nn::Reshape>("flat", std::vector<std::int64_t>{}));
  other.add(std::make_unique<nn::Dense>("out", nn::DenseOptions{.units = 3}));
  other.build();
  optim::Sgd sgd3(optim::SgdOptions{.momentum = 0.9});
  sgd3.attach(other.parameters(), other.gradients(), other.trainableRanges());
  try {
    loadCheckpoint(path, other, sgd3);
    FAIL() << "mismatched model accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("out/weight"), std::string::npos) << e.what();
  }
  // Not a checkpoint / not HDF5 / missing.
  std::ofstream(dir / "junk.h5") << "not hdf5";
  EXPECT_THROW(loadCheckpoint((dir / "junk.h5").string(), b, sgd2), Error);
  EXPECT_THROW(loadCheckpoint((dir / "missing.h5").string(), b, sgd2), Error);
}

TEST(Checkpoint, AFailedWriteLeavesThePreviousCheckpointIntact) {
  fs::path dir = freshDir("atomic");
  nn::Model m = smallCnn(1);
  optim::Sgd sgd;
  sgd.attach(m.parameters(), m.gradients(), m.trainableRanges());
  std::string path = (dir / "ck.h5").string();
  saveCheckpoint(path, m, sgd, TrainingProgress{1, 0, 10}, "first");
  auto before = fs::file_size(path);
  // Block the temporary file name with a directory so the write fails midway.
  fs::create_directories(path + ".tmp-" + std::to_string(::getpid()));
  EXPECT_THROW(saveCheckpoint(path, m, sgd, TrainingProgress{2, 0, 20}, "second"), Error);
  EXPECT_EQ(fs::file_size(path), before);
  EXPECT_EQ(checkpointConfig(path), "first");
}

TEST(Trainer, ResumeReproducesAnUninterruptedRunExactly) {
  fs::path dir = freshDir("resume");
  auto data = testing::blobImages(200, 4);  // 200/16: 12 full batches + a partial one per epoch
  auto run = [&](int epochs, const std::string& checkpointDir, std::int64_t everySteps, bool resume) {
    nn::Model m = smallCnn(7);
    optim::Sgd sgd(optim::SgdOptions{.momentum = 0.9, .nesterov = true});
    sgd.attach(m.parameters(), m.gradients(), m.trainableRanges());
    TrainerOptions o = baseOptions();
    o.epochs = epochs;
    o.checkpointDir = checkpointDir;
    o.checkpointEverySteps = everySteps;
    Trainer t(m, sgd, [](std::int64_t step) { return 0.05 / (1.0 + 0.01 * static_cast<double>(step)); }, *data,
              nullptr, o);
    if (resume) t.resumeFrom(findCheckpoint(checkpointDir));
    t.fit();
    return m.parameters().toVector<float>();
  };
  std::vector<float> straight = run(3, "", 0, false);
  // Stop after epoch 1, resume for epochs 2 and 3.
  std::string ck1 = (dir / "a").string();
  run(1, ck1, 0, false);
  EXPECT_EQ(run(3, ck1, 0, true), straight);
  // Resume from a checkpoint taken mid-epoch (step 20 = epoch 2, batch 7).
  std::string ck2 = (dir / "b").string();
  {
    nn::Model m = smallCnn(7);
    optim::Sgd sgd(optim::SgdOptions{.momentum = 0.9, .nesterov = true});
    sgd.attach(m.parameters(), m.gradients(), m.trainableRanges());
    TrainerOptions o = baseOptions();
    o.epochs = 2;
    o.checkpointDir = ck2;
    o.checkpointEveryEpochs = 0;
    o.checkpointEverySteps = 20;
    Trainer t(m, sgd, [](std::int64_t step) { return 0.05 / (1.0 + 0.01 * static_cast<double>(step)); }, *data,
              nullptr, o);
    t.fit();  // last checkpoint at global step 20: epoch 1 done, 7 batches into epoch 2
  }
  EXPECT_EQ(run(3, ck2, 0, true), straight);
}

}  // namespace
}  // namespace kaon::train
