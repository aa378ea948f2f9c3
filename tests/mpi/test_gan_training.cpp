// The 3DGAN under synchronous allreduce: W ranks splitting a global batch train the generator
// and the discriminator to what one rank computes with that batch (noise, energies and label
// flips are keyed by the position in the global batch), and validation metrics are exact
// reductions over all ranks' showers.
#include <gtest/gtest.h>

#include <cmath>

#include "../support/test_util.hpp"
#include "../train/gan_fixtures.hpp"
#include "kaon/comm/communicator.hpp"

namespace kaon::train {
namespace {

using kaon::testing::normalisedError;

TEST(GanSyncTraining, NRanksMatchOneRankWithTheSameGlobalBatch) {
  auto world = comm::makeWorldCommunicator();
  const int n = world->size();
  const std::int64_t global = 8;
  auto data = gantest::tinyShowers(16, 4), val = gantest::tinyShowers(6, 5);
  // Per-rank batch statistics (batch norm) and per-rank dropout streams differ from one rank's
  // by design, as in any data-parallel GAN; the equality is checked without them.
  const gantest::TinyGanOptions plain{.batchNorm = false, .dropout = false};
  gantest::TinyGan single(plain);
  GanTrainer t1 = single.trainer(*data, val.get(), gantest::tinyOptions(global, 2));
  auto r1 = t1.fit();
  gantest::TinyGan shared(plain);
  TrainerOptions o = gantest::tinyOptions(global / n, 2);
  o.bucketBytes = 256;  // several buckets per network
  GanTrainer tN = shared.trainer(*data, val.get(), o, world.get());
  auto rN = tN.fit();
  EXPECT_LT(normalisedError(single.setup.generator.parameters(), shared.setup.generator.parameters()), 1e-5);
  EXPECT_LT(normalisedError(single.setup.discriminator.parameters(), shared.setup.discriminator.parameters()), 1e-5);
  EXPECT_GT(normalisedError(single.setup.generator.parameters(), gantest::TinyGan(plain).setup.generator.parameters()),
            1e-4);  // it trained
  for (const char* k : {"sampling_fraction_real", "sampling_fraction_fake", "energy_mape_real", "profile_z_chi2"})
    EXPECT_NEAR(rN.back().validation.at(k), r1.back().validation.at(k),
                1e-4 * std::max(1.0, std::abs(r1.back().validation.at(k))))
        << k;
  EXPECT_NEAR(rN.back().train.at("g_loss"), r1.back().train.at("g_loss"), 1e-3 * std::abs(r1.back().train.at("g_loss")));
  // Every rank holds the same weights.
  Tensor root = shared.setup.generator.parameters().clone();
  world->broadcast(root, 0);
  EXPECT_EQ(root.toVector<float>(), shared.setup.generator.parameters().toVector<float>());
}

}  // namespace
}  // namespace kaon::train
