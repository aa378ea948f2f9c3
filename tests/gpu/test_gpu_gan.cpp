// The 3DGAN trainer on a GPU: one step (discriminator on real and fake, generator through the
// frozen discriminator) equals the CPU step, validation metrics agree, generation works.
#include "../train/gan_fixtures.hpp"
#include "gpu_util.hpp"

namespace kaon::train {
namespace {

using namespace gputest;

TEST(GpuGan, StepAndMetricsMatchTheCpu) {
  KAON_REQUIRE_GPU();
  auto data = gantest::tinyShowers(8, 1), val = gantest::tinyShowers(6, 2);
  gantest::TinyGan cpu({}), gpuGan({}, DType::Float32, gpu());
  GanTrainer tc = cpu.trainer(*data, val.get(), gantest::tinyOptions(4));
  GanTrainer tg = gpuGan.trainer(*data, val.get(), gantest::tinyOptions(4));
  data::Batch batch = data->allocateBatch(4);
  std::vector<std::int64_t> idx{0, 1, 2, 3};
  data->read(idx, batch);
  for (std::int64_t step = 0; step < 2; ++step) {
    GanStepLosses lc = tc.trainStep(batch, step), lg = tg.trainStep(batch, step);
    for (int h = 0; h < 3; ++h) {
      EXPECT_NEAR(lg.real[h], lc.real[h], 1e-3 * std::max(1.0, std::abs(lc.real[h])));
      EXPECT_NEAR(lg.generator[h], lc.generator[h], 1e-3 * std::max(1.0, std::abs(lc.generator[h])));
    }
  }
  EXPECT_GPU_CLOSE(gpuGan.setup.generator.parameters(), cpu.setup.generator.parameters(), 1e-4);
  EXPECT_GPU_CLOSE(gpuGan.setup.discriminator.parameters(), cpu.setup.discriminator.parameters(), 1e-4);
  auto mc = tc.evaluate(*val), mg = tg.evaluate(*val);
  for (const char* k : {"sampling_fraction_fake", "energy_mape_real", "profile_z_reldiff"})
    EXPECT_NEAR(mg.at(k), mc.at(k), 1e-3 * std::max(1.0, std::abs(mc.at(k)))) << k;
  Tensor showers = tg.generate(Tensor::fromVector(Shape{2}, std::vector<float>{20, 80}), 1);
  EXPECT_TRUE(showers.device().isCpu());
  EXPECT_EQ(showers.shape(), (Shape{2, 1, 4, 4, 4}));
}

}  // namespace
}  // namespace kaon::train
