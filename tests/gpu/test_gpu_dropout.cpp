// CUDA dropout draws the counter-based stream of kaon/ops/counter_rng.hpp: its mask (and so its
// output) equals the CPU's bit for bit, for any rate, offset and dtype; a model with dropout
// trains on the GPU as on the CPU.
#include "gpu_util.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/dropout.hpp"
#include "kaon/ops/dropout.hpp"
#include "kaon/optim/adam.hpp"
#include "kaon/train/trainer.hpp"
#include "kaon/nn/layers/reshape.hpp"

namespace kaon {
namespace {

using namespace gputest;

TEST(GpuDropout, MaskAndOutputEqualTheCpuBitForBit) {
  KAON_REQUIRE_GPU();
  for (DType dt : {DType::Float32, DType::Float64}) {
    Tensor x = testing::randomTensor(Shape{3, 7, 1001}, 5, dt);  // odd sizes: partial blocks
    for (double rate : {0.0, 0.1, 0.5, 0.9, 0.999}) {
      for (std::uint64_t offset : {0ull, 12345ull, (1ull << 40) + 3}) {
        SCOPED_TRACE(::testing::Message() << dtypeName(dt) << " rate " << rate << " offset " << offset);
        ops::DropoutResult cpu = ops::dropout(x, rate, 0xC0FFEEull, offset);
        ops::DropoutResult gpuR = ops::dropout(toGpu(x), rate, 0xC0FFEEull, offset);
        ASSERT_TRUE(gpuR.mask.device().isCuda());
        EXPECT_TRUE(testing::tensorsClose(toCpu(gpuR.mask), cpu.mask, 0.0));
        EXPECT_TRUE(testing::tensorsClose(toCpu(gpuR.y), cpu.y, 0.0));
        // Not the trivial mask: the kept fraction follows the rate.
        double kept = 0;
        Tensor m = toCpu(gpuR.mask).cast(DType::Float64);
        for (double v : m.toVector<double>()) kept += v != 0.0;
        EXPECT_NEAR(kept / static_cast<double>(x.numel()), 1.0 - rate, 0.02);
      }
    }
  }
  // A different seed gives a different mask.
  Tensor x = Tensor::full(Shape{4096}, 1.0);
  EXPECT_FALSE(testing::tensorsClose(toCpu(ops::dropout(toGpu(x), 0.5, 1).mask), toCpu(ops::dropout(toGpu(x), 0.5, 2).mask), 0.0));
}

TEST(GpuDropout, AModelWithDropoutTrainsAsOnTheCpu) {
  KAON_REQUIRE_GPU();
  auto build = [](Device d) {
    nn::Model m;
    m.addInput("image", Shape{1, 8, 8});
    m.add(std::make_unique<nn::Reshape>("flat", std::vector<std::int64_t>{}));
    m.add(std::make_unique<nn::Dense>("h", nn::DenseOptions{.units = 32, .activation = ops::Activation::Relu}));
    m.add(std::make_unique<nn::Dropout>("drop", 0.5));
    m.add(std::make_unique<nn::Dense>("out", nn::DenseOptions{.units = 2}));
    m.build(DType::Float32, 4, d);
    return m;
  };
  auto data = testing::blobImages(96, 7);
  train::TrainerOptions o;
  o.epochs = 2;
  o.batchSize = 16;
  o.progress = false;
  nn::Model c = build(Device::cpu()), g = build(gpu());
  optim::Adam ac, ag;
  ac.attach(c.parameters(), c.gradients(), c.trainableRanges());
  ag.attach(g.parameters(), g.gradients(), g.trainableRanges());
  train::Trainer tc(c, ac, [](std::int64_t) { return 1e-2; }, *data, nullptr, o);
  train::Trainer tg(g, ag, [](std::int64_t) { return 1e-2; }, *data, nullptr, o);
  auto rc = tc.fit(), rg = tg.fit();
  EXPECT_NEAR(rg.back().train.at("loss"), rc.back().train.at("loss"), 1e-4 * rc.back().train.at("loss"));
  EXPECT_TRUE(gpuClose(g.parameters(), c.parameters(), 1e-4));
}

}  // namespace
}  // namespace kaon
