// GPU data-parallel plumbing on one GPU: a synchronous step through the NCCL gradient path
// equals the plain step, checkpoints round-trip on the GPU and across devices (both ways), the
// pinned loader with the copy-stream prefetcher yields exactly the synchronous batches.
#include <cmath>
#include <filesystem>
#include <numeric>

#include "../../src/train/device_prefetcher.hpp"
#include "gpu_util.hpp"
#include "kaon/comm/communicator.hpp"
#include "kaon/data/loader.hpp"
#include "kaon/nn/layers/batch_norm.hpp"
#include "kaon/nn/layers/conv.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/dropout.hpp"
#include "kaon/nn/layers/pool.hpp"
#include "kaon/nn/layers/reshape.hpp"
#include "kaon/ops/elementwise.hpp"
#include "kaon/ops/loss.hpp"
#include "kaon/optim/adam.hpp"
#include "kaon/train/checkpoint.hpp"
#include "kaon/train/gradient_allreducer.hpp"
#include "kaon/train/trainer.hpp"

namespace kaon {
namespace {

using namespace gputest;
namespace fs = std::filesystem;

// Conv -> batch norm (buffers) -> pool -> dropout -> dense: parameters, buffers and masks.
nn::Model net(Device device) {
  nn::Model m;
  m.addInput("image", Shape{1, 8, 8});
  m.add(std::make_unique<nn::Conv>("conv", nn::ConvOptions{.filters = 4, .kernel = {3}, .samePadding = true,
                                                           .activation = ops::Activation::Relu}));
  m.add(std::make_unique<nn::BatchNorm>("bn"));
  m.add(std::make_unique<nn::Pool>("pool", nn::PoolOptions{.window = {2}}));
  m.add(std::make_unique<nn::Dropout>("drop", 0.2));
  m.add(std::make_unique<nn::Reshape>("flat", std::vector<std::int64_t>{}));
  m.add(std::make_unique<nn::Dense>("hidden", nn::DenseOptions{.units = 12, .activation = ops::Activation::Tanh}));
  m.add(std::make_unique<nn::Dense>("out", nn::DenseOptions{.units = 2}));
  m.build(DType::Float32, 21, device);
  return m;
}

train::TrainerOptions options(int epochs) {
  train::TrainerOptions o;
  o.epochs = epochs;
  o.batchSize = 16;
  o.metrics = {"accuracy"};
  o.progress = false;
  o.seed = 8;
  return o;
}

fs::path freshDir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("kaon_gpu_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

TEST(GpuSyncStep, TheNcclGradientPathEqualsThePlainStep) {
  KAON_REQUIRE_GPU();
  if (!comm::ncclBuilt()) GTEST_SKIP() << "built without NCCL";
  auto local = comm::makeLocalCommunicator();
  auto nccl = comm::makeNcclCommunicator(*local, gpu());
  nn::Model plain = net(gpu()), shared = net(gpu());
  optim::Adam a1, a2;
  a1.attach(plain.parameters(), plain.gradients(), plain.trainableRanges());
  a2.attach(shared.parameters(), shared.gradients(), shared.trainableRanges());
  train::GradientAllreducer reducer(shared, *nccl, 64);  // several buckets, in reverse order
  ASSERT_GT(reducer.buckets().size(), 2u);
  auto data = testing::blobImages(48, 3);
  data::Batch host = data->allocateBatch(16);
  for (int step = 0; step < 3; ++step) {
    std::vector<std::int64_t> idx(16);
    std::iota(idx.begin(), idx.end(), 16 * step);
    data->read(idx, host);
    data::Batch b = train::batchOnDevice(host, gpu());
    ops::LossResult l1 = ops::loss(ops::LossKind::SoftmaxCrossEntropy, plain.forward(b.inputs[0], true), b.targets[0]);
    plain.zeroGrad();
    plain.backward(l1.grad);
    a1.step(1e-2);
    ops::LossResult l2 = ops::loss(ops::LossKind::SoftmaxCrossEntropy, shared.forward(b.inputs[0], true), b.targets[0]);
    shared.zeroGrad();
    reducer.beginBackward();
    shared.backward(l2.grad);
    reducer.finishBackward();
    EXPECT_EQ(reducer.bucketsStartedDuringBackward(), static_cast<int>(reducer.buckets().size()));
    a2.step(1e-2);
    // Averaging over one rank is the identity; what may differ is cuDNN's choice of a
    // non-deterministic backward algorithm (atomics), at the level of float rounding. A bucket
    // reduced from the wrong slice or read before NCCL finished would be far off.
    EXPECT_NEAR(l1.value, l2.value, 1e-6 * std::abs(l1.value)) << "step " << step;
    EXPECT_TRUE(testing::tensorsClose(toCpu(shared.gradients()), toCpu(plain.gradients()), 1e-6)) << "step " << step;
  }
  EXPECT_TRUE(testing::tensorsClose(toCpu(shared.parameters()), toCpu(plain.parameters()), 1e-6));
}

TEST(GpuSyncStep, ATrainerGivenTheNcclCommunicatorEqualsOneWithout) {
  KAON_REQUIRE_GPU();
  if (!comm::ncclBuilt()) GTEST_SKIP() << "built without NCCL";
  auto local = comm::makeLocalCommunicator();
  auto nccl = comm::makeNcclCommunicator(*local, gpu());
  auto data = testing::blobImages(100, 5);
  auto fit = [&](comm::Communicator* c) {
    nn::Model m = net(gpu());
    optim::Adam adam;
    adam.attach(m.parameters(), m.gradients(), m.trainableRanges());
    train::Trainer t(m, adam, [](std::int64_t) { return 1e-2; }, *data, data.get(), options(2), c);
    auto r = t.fit();
    return std::make_pair(toCpu(m.parameters()), r.back().validation.at("loss"));
  };
  auto [p1, v1] = fit(nullptr);
  auto [p2, v2] = fit(nccl.get());
  EXPECT_TRUE(testing::tensorsClose(p2, p1, 1e-5));
  EXPECT_NEAR(v2, v1, 1e-4 * std::abs(v1));
}

// Trains `epochs` on `device`, optionally resuming from `resume`, writing checkpoints to `dir`.
Tensor trainOn(Device device, int epochs, const fs::path& dir, const std::string& resume) {
  auto data = testing::blobImages(90, 6);  // 90 / 16: five full batches and a short one
  nn::Model m = net(device);
  optim::Adam adam;
  adam.attach(m.parameters(), m.gradients(), m.trainableRanges());
  train::TrainerOptions o = options(epochs);
  o.checkpointDir = dir.string();
  train::Trainer t(m, adam, [](std::int64_t s) { return 1e-2 / (1.0 + 0.1 * static_cast<double>(s)); }, *data,
                   nullptr, o);
  if (!resume.empty()) t.resumeFrom(resume);
  t.fit();
  return toCpu(m.parameters());
}

TEST(GpuCheckpoint, RoundTripsOnTheGpuExactly) {
  KAON_REQUIRE_GPU();
  fs::path dir = freshDir("ck_exact");
  trainOn(gpu(), 1, dir, "");
  const std::string path = train::findCheckpoint(dir.string());
  ASSERT_FALSE(path.empty());
  nn::Model a = net(gpu()), b = net(gpu());
  optim::Adam oa, ob;
  oa.attach(a.parameters(), a.gradients(), a.trainableRanges());
  ob.attach(b.parameters(), b.gradients(), b.trainableRanges());
  train::loadCheckpoint(path, a, oa);
  train::saveCheckpoint((dir / "again.h5").string(), a, oa, train::TrainingProgress{1, 0, 6}, "");
  train::loadCheckpoint((dir / "again.h5").string(), b, ob);
  EXPECT_TRUE(b.parameters().device().isCuda());
  EXPECT_TRUE(testing::tensorsClose(toCpu(b.parameters()), toCpu(a.parameters()), 0.0));
  EXPECT_TRUE(testing::tensorsClose(toCpu(b.buffers()), toCpu(a.buffers()), 0.0));
  for (std::size_t k = 0; k < oa.state().size(); ++k)
    EXPECT_TRUE(testing::tensorsClose(toCpu(ob.state()[k].second), toCpu(oa.state()[k].second), 0.0));
  EXPECT_EQ(ob.stepCount(), oa.stepCount());
  EXPECT_EQ(b.forwardStep(), a.forwardStep());
}

TEST(GpuCheckpoint, ACpuCheckpointResumesOnTheGpuAndAGpuCheckpointOnTheCpu) {
  KAON_REQUIRE_GPU();
  const Tensor cpuRef = trainOn(Device::cpu(), 2, freshDir("ref_cpu"), "");
  const Tensor gpuRef = trainOn(gpu(), 2, freshDir("ref_gpu"), "");
  EXPECT_TRUE(testing::tensorsClose(gpuRef, cpuRef, 1e-4));  // same run, two backends
  // CPU epoch 1 -> GPU epoch 2.
  fs::path a = freshDir("cpu_to_gpu");
  trainOn(Device::cpu(), 1, a, "");
  const Tensor cpuThenGpu = trainOn(gpu(), 2, a, train::findCheckpoint(a.string()));
  EXPECT_TRUE(testing::tensorsClose(cpuThenGpu, gpuRef, 1e-4));
  EXPECT_TRUE(testing::tensorsClose(cpuThenGpu, cpuRef, 1e-4));
  // GPU epoch 1 -> CPU epoch 2.
  fs::path b = freshDir("gpu_to_cpu");
  trainOn(gpu(), 1, b, "");
  const Tensor gpuThenCpu = trainOn(Device::cpu(), 2, b, train::findCheckpoint(b.string()));
  EXPECT_TRUE(testing::tensorsClose(gpuThenCpu, cpuRef, 1e-4));
  // And the resumed GPU run continues the uninterrupted one (dropout streams included).
  fs::path c = freshDir("gpu_to_gpu");
  trainOn(gpu(), 1, c, "");
  EXPECT_TRUE(testing::tensorsClose(trainOn(gpu(), 2, c, train::findCheckpoint(c.string())), gpuRef, 2e-5));
}

TEST(GpuPrefetch, PinnedLoaderAndCopyStreamGiveTheSynchronousBatches) {
  KAON_REQUIRE_GPU();
  auto data = testing::blobImages(75, 2);
  std::vector<std::int64_t> order(75);
  std::iota(order.begin(), order.end(), 0);
  std::reverse(order.begin(), order.end());
  for (int prefetch : {0, 2}) {
    data::LoaderOptions lo{16, false, prefetch, 0};
    lo.hold = 2;
    lo.pinned = true;
    data::Loader loader(*data, order, lo);
    train::DeviceBatchPrefetcher prefetcher(gpu());
    const data::Batch* host = loader.next();
    prefetcher.stage(*host);
    for (std::int64_t k = 0; k < loader.batches(); ++k) {
      EXPECT_TRUE(host->inputs[0].pinned());
      const data::Batch& dev = prefetcher.take();
      const data::Batch* next = k + 1 < loader.batches() ? loader.next() : nullptr;
      if (next) prefetcher.stage(*next);
      // Busy compute stream while the next copy runs: the copy must not disturb this batch.
      Tensor scratch = Tensor::zeros(Shape{1 << 22}, DType::Float32, gpu());
      ops::scaleInPlace(scratch, 2.0);
      const std::int64_t count = std::min<std::int64_t>(16, 75 - 16 * k);
      data::Batch want = data->allocateBatch(count);
      data->read(std::span(order).subspan(static_cast<std::size_t>(16 * k), static_cast<std::size_t>(count)), want);
      ASSERT_TRUE(dev.inputs[0].device().isCuda());
      EXPECT_EQ(toCpu(dev.inputs[0]).toVector<float>(), want.inputs[0].toVector<float>()) << "batch " << k;
      EXPECT_EQ(toCpu(dev.targets[0]).toVector<float>(), want.targets[0].toVector<float>()) << "batch " << k;
      host = next;
    }
    prefetcher.synchronize();
  }
}

}  // namespace
}  // namespace kaon
