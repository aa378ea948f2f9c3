// A small CNN trained on the GPU equals the same run on the CPU, and the caching allocator
// stops calling cudaMalloc once the first steps have sized the pool.
#include <random>

#include "gpu_util.hpp"
#include "kaon/data/in_memory_dataset.hpp"
#include "kaon/nn/layers/conv.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/pool.hpp"
#include "kaon/nn/layers/reshape.hpp"
#include "kaon/optim/adam.hpp"
#include "kaon/train/trainer.hpp"

namespace kaon {
namespace {

using namespace gputest;

// Conv (same padding, even kernel: asymmetric) -> max pool -> conv stride 2 -> dense.
nn::Model smallCnn(Device device) {
  nn::Model m;
  m.addInput("image", Shape{1, 8, 8});
  m.add(std::make_unique<nn::Conv>("conv1", nn::ConvOptions{.filters = 4, .kernel = {4}, .samePadding = true,
                                                            .activation = ops::Activation::Relu}));
  m.add(std::make_unique<nn::Pool>("pool", nn::PoolOptions{.window = {2}}));
  m.add(std::make_unique<nn::Conv>("conv2", nn::ConvOptions{.filters = 6, .kernel = {3}, .stride = {2},
                                                            .samePadding = true,
                                                            .activation = ops::Activation::Tanh}));
  m.add(std::make_unique<nn::Reshape>("flat", std::vector<std::int64_t>{}));
  m.add(std::make_unique<nn::Dense>("out", nn::DenseOptions{.units = 2}));
  m.build(DType::Float32, 3, device);
  return m;
}

train::TrainerOptions options() {
  train::TrainerOptions o;
  o.epochs = 2;
  o.batchSize = 16;
  o.metrics = {"accuracy"};
  o.progress = false;
  o.seed = 5;
  return o;
}

TEST(GpuTraining, SmallCnnMatchesCpu) {
  KAON_REQUIRE_GPU();
  auto trainData = testing::blobImages(128, 1), valData = testing::blobImages(64, 2);
  nn::Model cpu = smallCnn(Device::cpu()), gpuModel = smallCnn(gpu());
  ASSERT_TRUE(gpuModel.parameters().device().isCuda());
  EXPECT_TRUE(testing::tensorsClose(toCpu(gpuModel.parameters()), cpu.parameters(), 0.0));
  optim::Adam a1, a2;
  a1.attach(cpu.parameters(), cpu.gradients(), cpu.trainableRanges());
  a2.attach(gpuModel.parameters(), gpuModel.gradients(), gpuModel.trainableRanges());
  auto lr = [](std::int64_t) { return 1e-2; };
  train::Trainer t1(cpu, a1, lr, *trainData, valData.get(), options());
  train::Trainer t2(gpuModel, a2, lr, *trainData, valData.get(), options());
  auto r1 = t1.fit();
  auto r2 = t2.fit();
  ASSERT_EQ(r1.size(), r2.size());
  for (std::size_t e = 0; e < r1.size(); ++e) {
    EXPECT_NEAR(r2[e].train.at("loss"), r1[e].train.at("loss"), 1e-4 * r1[e].train.at("loss"));
    EXPECT_NEAR(r2[e].validation.at("loss"), r1[e].validation.at("loss"), 1e-4 * r1[e].validation.at("loss"));
  }
  EXPECT_TRUE(gpuClose(gpuModel.parameters(), cpu.parameters(), 1e-4));
  EXPECT_LT(r2.back().train.at("loss"), r2.front().train.at("loss"));
}

TEST(GpuTraining, AllocatorDoesNotGrowAcrossSteps) {
  KAON_REQUIRE_GPU();
  auto trainData = testing::blobImages(64, 1);
  nn::Model m = smallCnn(gpu());
  optim::Adam adam;
  adam.attach(m.parameters(), m.gradients(), m.trainableRanges());
  train::Trainer t(m, adam, [](std::int64_t) { return 1e-3; }, *trainData, nullptr, options());
  data::Batch batch = trainData->allocateBatch(16);
  std::vector<std::int64_t> idx(16);
  for (int i = 0; i < 16; ++i) idx[i] = i;
  trainData->read(idx, batch);
  for (int s = 0; s < 2; ++s) t.trainStep(batch, s);  // sizes the pool, finds conv algorithms
  const CudaMemoryStats warm = cudaMemoryStats(0);
  for (int s = 2; s < 12; ++s) t.trainStep(batch, s);
  const CudaMemoryStats after = cudaMemoryStats(0);
  EXPECT_EQ(after.mallocCount, warm.mallocCount);
  EXPECT_EQ(after.reservedBytes, warm.reservedBytes);
  EXPECT_EQ(after.currentBytes, warm.currentBytes);
}

}  // namespace
}  // namespace kaon
