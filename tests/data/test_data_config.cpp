// `data:` section with source: hdf5 (files, lists, fields, classes, validation files, stage_to,
// cache, normalisation) and the model-compatibility error naming file and dataset.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "hdf5_fixtures.hpp"
#include "kaon/data/data_config.hpp"
#include "kaon/data/normalise.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/optim/optimizer.hpp"
#include "kaon/train/trainer.hpp"

namespace kaon::data {
namespace {

using testing::errorOf;
using testing::fx;
using testing::readBatch;

DatasetSplit fromYaml(const std::string& yaml, DataContext context = {}) {
  config::ConfigNode node(YAML::Load(yaml), "data", "test.yaml");
  return datasetsFromConfig(node, context);
}

TEST(DataConfig, Hdf5SourceWithFieldsAndSeparateValidationFiles) {
  KAON_REQUIRE_H5PY();
  DatasetSplit s = fromYaml(fmt::format(R"(
source: hdf5
files: [{0}, {1}]
validation_files: {2}
features: x
labels: {{dataset: y}}
prefetch: 3
)",
                                        fx("part0.h5"), fx("part1.h5"), fx("part2.h5")));
  EXPECT_EQ(s.train->size(), 33);
  ASSERT_TRUE(s.validation);
  EXPECT_EQ(s.validation->size(), 7);
  EXPECT_NE(s.validation->describe().find("part2.h5"), std::string::npos);
  EXPECT_EQ(s.prefetch, 3);
  EXPECT_EQ(readBatch(*s.validation, {0}).inputs[0].toVector<float>()[0], 33.0f);

  DatasetSplit l = fromYaml(fmt::format(R"(
source: hdf5
file_list: {0}
layout: channels_first
features: {{dataset: x, columns: [0, 2]}}
labels: y
validation_fraction: 0.25
cache: memory
)",
                                        fx("parts.txt")));
  EXPECT_EQ(l.train->size(), 30);
  EXPECT_EQ(l.validation->size(), 10);
  EXPECT_EQ(l.train->inputShapes()[0], Shape{2});
  EXPECT_NE(l.train->describe().find("cached in memory"), std::string::npos);
}

TEST(DataConfig, ClassesStagingAndKeyErrors) {
  KAON_REQUIRE_H5PY();
  std::string stage = (std::filesystem::temp_directory_path() / ("kaon_stage_" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(stage);
  DatasetSplit s = fromYaml(fmt::format(R"(
source: hdf5
classes:
  - {{name: signal, files: {0}, features: sig}}
  - {{name: background, files: {0}, features: bkg}}
class_weights: balanced
stage_to: {1}
)",
                                        fx("both.h5"), stage));
  EXPECT_EQ(s.train->size(), 40);
  EXPECT_TRUE(s.train->hasWeights());
  EXPECT_NE(s.train->describe().find(stage), std::string::npos);  // reads the staged copy
  int staged = 0;
  for (const auto& e : std::filesystem::directory_iterator(stage)) staged += e.path().string().ends_with("both.h5");
  EXPECT_EQ(staged, 1);
  std::filesystem::remove_all(stage);

  auto err = [](const std::string& yaml) { return errorOf([&] { fromYaml(yaml); }); };
  EXPECT_NE(err("{source: hdf5, files: a.h5, features: x, labels: y, bogus: 1}").find("data.bogus"), std::string::npos);
  EXPECT_NE(err("{source: hdf5, features: x, labels: y}").find("file_list"), std::string::npos);
  EXPECT_NE(err("{source: hdf5, files: a.h5, features: x}").find("data.labels"), std::string::npos);
  EXPECT_NE(err("{source: hdf5, files: a.h5, features: {dataset: x, colum: 1}, labels: y}").find("data.features.colum"),
            std::string::npos);
  EXPECT_NE(err("{source: hdf5, files: a.h5, features: x, labels: y, on_nan: ignore}").find("data.on_nan"),
            std::string::npos);
  EXPECT_NE(err("{source: hdf5, files: a.h5, validation_files: b.h5, validation_fraction: 0.1, features: x, labels: y}")
                .find("validation_fraction"),
            std::string::npos);
  // Keys are all checked before any file is opened: a missing file is reported after them.
  EXPECT_NE(err(fmt::format("{{source: hdf5, files: {}, features: x, labels: y}}", fx("nope.h5"))).find("nope.h5"),
            std::string::npos);
}

TEST(DataConfig, NormalisationIsComputedOnceAndStoredWithTheRun) {
  KAON_REQUIRE_H5PY();
  std::string run = (std::filesystem::temp_directory_path() / ("kaon_norm_" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(run);
  std::string yaml = fmt::format("{{source: hdf5, files: {}, features: x, labels: y, normalise: standard}}", fx("stats.h5"));
  DatasetSplit s = fromYaml(yaml, {1, run});
  std::string statsFile = run + "/normalisation.h5";
  ASSERT_TRUE(std::filesystem::exists(statsFile));
  ChannelStats st = loadChannelStats(statsFile);
  ASSERT_EQ(st.shift.size(), 2u);
  EXPECT_NEAR(st.shift[1], 10, 0.3);  // channel means ~0 and ~10, std ~1 and ~2
  EXPECT_NEAR(1 / st.scale[1], 2, 0.2);
  // The normalised channels have mean 0 and unit variance.
  Batch b = readBatch(*s.train);
  for (int c = 0; c < 2; ++c) {
    double sum = 0, sq = 0;
    const float* x = b.inputs[0].data<float>();
    for (std::int64_t n = 0; n < 200; ++n)
      for (int k = 0; k < 9; ++k) sum += x[(n * 2 + c) * 9 + k], sq += std::pow(x[(n * 2 + c) * 9 + k], 2);
    EXPECT_NEAR(sum / 1800, 0, 1e-4);
    EXPECT_NEAR(sq / 1800, 1, 1e-3);
  }
  // A second run (resume) reuses the stored file: a doctored file proves it is read, not recomputed.
  st.shift = {100, 100};
  saveChannelStats(statsFile, st);
  DatasetSplit again = fromYaml(yaml, {1, run});
  EXPECT_LT(readBatch(*again.train, {0}).inputs[0].toVector<float>()[0], -40.0f);
  std::filesystem::remove_all(run);
}

TEST(DataConfig, ModelShapeMismatchNamesFileAndDataset) {
  KAON_REQUIRE_H5PY();
  DatasetSplit s = fromYaml(fmt::format("{{source: hdf5, files: {}, features: x, labels: y}}", fx("small.h5")));
  nn::Model m;
  m.addInput("in", Shape{5});
  m.add(std::make_unique<nn::Dense>("out", nn::DenseOptions{.units = 2}));
  m.build();
  optim::Sgd sgd;
  sgd.attach(m.parameters(), m.gradients(), m.trainableRanges());
  std::string e = errorOf([&] { train::Trainer(m, sgd, [](std::int64_t) { return 0.1; }, *s.train, nullptr, {}); });
  EXPECT_NE(e.find("small.h5"), std::string::npos) << e;
  EXPECT_NE(e.find("features 'x'"), std::string::npos) << e;
  EXPECT_NE(e.find("[3]"), std::string::npos) << e;
}

TEST(DataConfig, SyntheticGenerators) {
  DatasetSplit calo = fromYaml("{source: synthetic, generator: calo_showers, samples: 4, cells: 8}");
  EXPECT_EQ(calo.train->inputShapes()[0], (Shape{1, 8, 8, 8}));
  EXPECT_EQ(calo.train->targetShapes()[0], Shape{});
  DatasetSplit w = fromYaml("{source: synthetic, generator: weather, samples: 3, size: 16, factor: 2}");
  EXPECT_EQ(w.train->inputShapes()[0], (Shape{2, 16, 16}));
  EXPECT_EQ(w.train->targetShapes()[0], (Shape{1, 16, 16}));
  EXPECT_NE(errorOf([] { fromYaml("{source: synthetic, generator: weather, samples: 3, size: 10, factor: 4}"); })
                .find("data.factor"),
            std::string::npos);
}

}  // namespace
}  // namespace kaon::data
