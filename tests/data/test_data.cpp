// Sampler sharding/determinism, in-memory datasets and the synthetic jet-image generator.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "kaon/data/data_config.hpp"
#include "kaon/data/in_memory_dataset.hpp"
#include "kaon/data/jet_images.hpp"
#include "kaon/data/sampler.hpp"
#include "kaon/train/metrics.hpp"

namespace kaon::data {
namespace {

TEST(Sampler, EveryIndexExactlyOncePerEpochAcrossRanks) {
  for (int world : {1, 2, 3, 4}) {
    const std::int64_t n = 100;  // divisible by 1, 2, 4 but not 3
    std::vector<std::int64_t> all;
    for (int r = 0; r < world; ++r) {
      ShardedSampler s(n, {true, 42, r, world, RemainderPolicy::Drop});
      auto idx = s.indices(3);
      EXPECT_EQ(static_cast<std::int64_t>(idx.size()), n / world);
      all.insert(all.end(), idx.begin(), idx.end());
    }
    std::set<std::int64_t> unique(all.begin(), all.end());
    EXPECT_EQ(unique.size(), all.size()) << "world " << world << ": ranks overlap";
    if (n % world == 0) {
      EXPECT_EQ(static_cast<std::int64_t>(unique.size()), n);
    }
  }
}

TEST(Sampler, PadPolicyGivesEqualCountsCoveringEverything) {
  std::set<std::int64_t> seen;
  for (int r = 0; r < 3; ++r) {
    ShardedSampler s(100, {true, 1, r, 3, RemainderPolicy::Pad});
    auto idx = s.indices(0);
    EXPECT_EQ(idx.size(), 34u);
    seen.insert(idx.begin(), idx.end());
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(Sampler, PermutationsRepeatForASeedAndDifferAcrossEpochs) {
  ShardedSampler a(1000, {true, 9, 0, 1}), b(1000, {true, 9, 0, 1}), c(1000, {true, 10, 0, 1});
  EXPECT_EQ(a.indices(0), b.indices(0));
  EXPECT_NE(a.indices(0), a.indices(1));
  EXPECT_NE(a.indices(0), c.indices(0));
  auto p = a.indices(5);
  std::sort(p.begin(), p.end());
  for (std::int64_t i = 0; i < 1000; ++i) ASSERT_EQ(p[i], i);
  ShardedSampler ordered(5, {false, 9, 0, 1});
  EXPECT_EQ(ordered.indices(3), (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
  EXPECT_THROW(ShardedSampler(3, {true, 0, 0, 4}), Error);  // more ranks than samples
  EXPECT_THROW(ShardedSampler(10, {true, 0, 2, 2}), Error);  // rank out of range
}

TEST(InMemoryDataset, GathersRowsAndValidates) {
  Tensor x = Tensor::fromVector<float>(Shape{3, 2}, {0, 1, 10, 11, 20, 21});
  Tensor y = Tensor::fromVector<float>(Shape{3}, {0, 1, 2});
  InMemoryDataset d({x}, {y});
  Batch b = d.allocateBatch(2);
  std::vector<std::int64_t> idx{2, 0};
  d.read(idx, b);
  EXPECT_EQ(b.inputs[0].toVector<float>(), (std::vector<float>{20, 21, 0, 1}));
  EXPECT_EQ(b.targets[0].toVector<float>(), (std::vector<float>{2, 0}));
  std::vector<std::int64_t> bad{3, 0};
  EXPECT_THROW(d.read(bad, b), Error);
  EXPECT_THROW(InMemoryDataset({x}, {Tensor::zeros(Shape{4})}), Error);  // length mismatch
  DatasetSplit split = splitDataset(std::make_shared<InMemoryDataset>(std::vector<Tensor>{x}, std::vector<Tensor>{y}),
                                    1.0 / 3, 5);
  EXPECT_EQ(split.train->size(), 2);
  EXPECT_EQ(split.validation->size(), 1);
}

TEST(JetImages, DeterministicBalancedAndNotTrivial) {
  JetImageOptions o;
  o.samples = 2000;
  o.pixels = 32;
  o.seed = 3;
  JetImages a = generateJetImages(o), b = generateJetImages(o);
  EXPECT_EQ(a.images.toVector<float>(), b.images.toVector<float>());
  EXPECT_EQ(a.images.shape(), (Shape{2000, 3, 32, 32}));
  double signal = 0;
  for (float l : a.labels.span<float>()) signal += l;
  EXPECT_NEAR(signal / 2000, 0.5, 0.05);
  // The jet mass separates the classes, but a cut on it alone stays well below AUC 1.
  std::vector<float> mass(a.mass.span<float>().begin(), a.mass.span<float>().end());
  std::vector<float> labels(a.labels.span<float>().begin(), a.labels.span<float>().end());
  // Score: closeness to the W mass.
  std::vector<float> score;
  for (float m : mass) score.push_back(-std::abs(m - 80.4f));
  double auc = train::rocAuc(score, labels);
  EXPECT_GT(auc, 0.6);
  EXPECT_LT(auc, 0.95);
  // Energy is deposited, no NaNs, track channel holds counts.
  for (float v : a.images.span<float>()) ASSERT_TRUE(std::isfinite(v) && v >= 0);
  JetImageOptions bad = o;
  bad.channels = 2;
  EXPECT_THROW(generateJetImages(bad), Error);
}

TEST(Metrics, RocAucHandComputed) {
  // Positives at 0.9 and 0.4, negatives at 0.5 and 0.1: 3 of 4 pairs ordered -> 0.75.
  EXPECT_DOUBLE_EQ(train::rocAuc({0.9f, 0.4f, 0.5f, 0.1f}, {1, 1, 0, 0}), 0.75);
  EXPECT_DOUBLE_EQ(train::rocAuc({0.5f, 0.5f}, {1, 0}), 0.5);  // a tie counts one half
  EXPECT_TRUE(std::isnan(train::rocAuc({0.1f, 0.2f}, {1, 1})));
}

}  // namespace
}  // namespace kaon::data
