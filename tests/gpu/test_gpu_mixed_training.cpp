// Mixed-precision training on the GPU: a bf16 step of a small CNN against the fp32 step, the
// fp16 loss scaler (overflow skips the step and halves the scale; growth), and checkpoints of
// a bf16 model (fp32 weights, resumable in fp32 and back).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

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
namespace fs = std::filesystem;

nn::Model tinyCnn() {
  nn::Model m;
  m.addInput("image", Shape{1, 8, 8});
  m.add(std::make_unique<nn::Conv>("conv1", nn::ConvOptions{.filters = 8, .kernel = {3}, .samePadding = true,
                                                            .activation = ops::Activation::Relu}));
  m.add(std::make_unique<nn::Pool>("pool", nn::PoolOptions{.window = {2}}));
  m.add(std::make_unique<nn::Conv>("conv2", nn::ConvOptions{.filters = 8, .kernel = {3}, .samePadding = true,
                                                            .activation = ops::Activation::Relu}));
  m.add(std::make_unique<nn::Reshape>("flat", std::vector<std::int64_t>{}));
  m.add(std::make_unique<nn::Dense>("out", nn::DenseOptions{.units = 2}));
  m.build(DType::Float32, 3, gpu());
  return m;
}

train::TrainerOptions options(Precision p, int epochs = 2) {
  train::TrainerOptions o;
  o.epochs = epochs;
  o.batchSize = 16;
  o.progress = false;
  o.seed = 5;
  o.precision = p;
  return o;
}

fs::path freshDir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("kaon_gpu_mp_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

struct TrainRun {
  nn::Model model = tinyCnn();
  optim::Adam adam;
  std::unique_ptr<train::Trainer> trainer;
  TrainRun(const data::Dataset& d, train::TrainerOptions o) {
    adam.attach(model.parameters(), model.gradients(), model.trainableRanges());
    trainer = std::make_unique<train::Trainer>(model, adam, [](std::int64_t) { return 1e-2; }, d, nullptr, o);
  }
};

// ||a - b|| / ||b|| over all elements (CPU float32): a gradient's direction and size, robust to
// the few elements where a ReLU or a max-pool winner flipped between precisions.
double relativeL2(const Tensor& a, const Tensor& b) {
  auto x = a.span<float>(), y = b.span<float>();
  double num = 0, den = 0;
  for (std::size_t i = 0; i < x.size(); ++i) num += (x[i] - y[i]) * double(x[i] - y[i]), den += double(y[i]) * y[i];
  return std::sqrt(num / std::max(den, 1e-300));
}

data::Batch firstBatch(const data::Dataset& d, std::int64_t n) {
  data::Batch b = d.allocateBatch(n);
  std::vector<std::int64_t> idx(n);
  for (std::int64_t i = 0; i < n; ++i) idx[i] = i;
  d.read(idx, b);
  return b;
}

TEST(GpuMixedPrecision, Bf16StepIsCloseToTheFp32Step) {
  KAON_REQUIRE_GPU();
  auto data = testing::blobImages(128, 1);
  TrainRun fp32(*data, options(Precision::Fp32)), bf16(*data, options(Precision::Bf16));
  EXPECT_EQ(bf16.model.parameters().dtype(), DType::Float32);  // master weights
  EXPECT_EQ(bf16.model.gradients().dtype(), DType::Float32);
  EXPECT_EQ(bf16.model.computeDType(), DType::BFloat16);
  EXPECT_EQ(bf16.model.layer("conv1").parameters()[0].value.dtype(), DType::BFloat16);  // compute copy
  Tensor before = toCpu(fp32.model.parameters());
  data::Batch batch = firstBatch(*data, 16);
  auto r32 = fp32.trainer->trainStep(batch, 0);
  auto r16 = bf16.trainer->trainStep(batch, 0);
  EXPECT_EQ(r16.prediction.dtype(), DType::Float32);
  EXPECT_NEAR(r16.loss, r32.loss, 2e-2 * r32.loss);
  const double e = relativeL2(toCpu(bf16.model.gradients()), toCpu(fp32.model.gradients()));
  std::printf("bf16 vs fp32 gradient: relative L2 error %.3g\n", e);
  EXPECT_LT(e, 0.1);
  // Adam's first step moves each weight by ~lr * sign(g): the updates agree except where g ~ 0.
  Tensor after32 = toCpu(fp32.model.parameters()), after16 = toCpu(bf16.model.parameters());
  auto p0 = before.span<float>(), a = after32.span<float>(), b = after16.span<float>();
  double agree = 0;
  for (std::size_t i = 0; i < a.size(); ++i) agree += std::abs((a[i] - p0[i]) - (b[i] - p0[i])) < 2e-3 ? 1 : 0;
  EXPECT_GT(agree / static_cast<double>(a.size()), 0.9);
  // A few epochs train to a similar loss.
  auto e32 = TrainRun(*data, options(Precision::Fp32, 3)).trainer->fit();
  auto e16 = TrainRun(*data, options(Precision::Bf16, 3)).trainer->fit();
  EXPECT_LT(e16.back().train.at("loss"), e16.front().train.at("loss"));
  EXPECT_NEAR(e16.back().train.at("loss"), e32.back().train.at("loss"), 0.15 * e32.front().train.at("loss"));
}

TEST(GpuMixedPrecision, Fp16OverflowSkipsTheStepAndHalvesTheScale) {
  KAON_REQUIRE_GPU();
  auto data = testing::blobImages(64, 1);
  train::TrainerOptions o = options(Precision::Fp16);
  o.lossScale.initialScale = std::ldexp(1.0, 40);  // loss gradient * 2^40 overflows fp16
  TrainRun run(*data, o);
  Tensor before = toCpu(run.model.parameters());
  data::Batch batch = firstBatch(*data, 16);
  run.trainer->trainStep(batch, 0);
  const train::LossScaler* s = run.trainer->lossScaler();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->scale(), std::ldexp(1.0, 39));
  EXPECT_EQ(s->skippedSteps(), 1);
  EXPECT_TRUE(testing::tensorsClose(toCpu(run.model.parameters()), before, 0.0));  // step skipped
  EXPECT_EQ(run.adam.stepCount(), 0);
}

TEST(GpuMixedPrecision, Fp16ScaleGrowsAfterGoodStepsAndGradientsAreUnscaled) {
  KAON_REQUIRE_GPU();
  auto data = testing::blobImages(64, 1);
  train::TrainerOptions o = options(Precision::Fp16);
  o.lossScale.initialScale = 256;
  o.lossScale.growthInterval = 2;
  TrainRun run(*data, o), fp32(*data, options(Precision::Fp32));
  data::Batch batch = firstBatch(*data, 16);
  run.trainer->trainStep(batch, 0);
  fp32.trainer->trainStep(batch, 0);
  // The fp32 gradient the optimizer saw is the true one (scale divided out), not 256x it.
  const double e = relativeL2(toCpu(run.model.gradients()), toCpu(fp32.model.gradients()));
  std::printf("fp16 (scale 256) vs fp32 gradient: relative L2 error %.3g\n", e);
  EXPECT_LT(e, 0.05);  // not divided by the scale it would be ~255
  EXPECT_EQ(run.trainer->lossScaler()->scale(), 256);
  run.trainer->trainStep(batch, 1);
  EXPECT_EQ(run.trainer->lossScaler()->scale(), 512);
  EXPECT_EQ(run.trainer->lossScaler()->skippedSteps(), 0);
  EXPECT_EQ(run.adam.stepCount(), 2);
}

TEST(GpuMixedPrecision, Bf16CheckpointHoldsFp32WeightsAndResumesEitherWay) {
  KAON_REQUIRE_GPU();
  auto data = testing::blobImages(64, 1);
  fs::path dir = freshDir("bf16");
  train::TrainerOptions o = options(Precision::Bf16, 1);
  o.checkpointDir = (dir / "bf16").string();
  TrainRun bf16(*data, o);
  bf16.trainer->fit();
  // An fp32 model loads the bf16 run's weights exactly: they were stored in fp32 (Adam's
  // updates are not bf16-representable, so a bf16 file could not reproduce them).
  TrainRun fp32(*data, options(Precision::Fp32, 2));
  fp32.trainer->resumeFrom(bf16.trainer->checkpointPath());
  EXPECT_TRUE(testing::tensorsClose(toCpu(fp32.model.parameters()), toCpu(bf16.model.parameters()), 0.0));
  fp32.trainer->fit();  // continues with epoch 2 in fp32
  EXPECT_EQ(fp32.trainer->progress().epoch, 2);
  // And back: an fp32 checkpoint resumes in bf16 (and fp16, whose scaler starts fresh).
  train::TrainerOptions o32 = options(Precision::Fp32, 1);
  o32.checkpointDir = (dir / "fp32").string();
  TrainRun source(*data, o32);
  source.trainer->fit();
  for (Precision p : {Precision::Bf16, Precision::Fp16}) {
    TrainRun resumed(*data, options(p, 2));
    resumed.trainer->resumeFrom(source.trainer->checkpointPath());
    EXPECT_TRUE(testing::tensorsClose(toCpu(resumed.model.parameters()), toCpu(source.model.parameters()), 0.0));
    auto r = resumed.trainer->fit();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(std::isfinite(r[0].train.at("loss")));
  }
  fs::remove_all(dir);
}

TEST(GpuMixedPrecision, Fp16CheckpointKeepsTheLossScale) {
  KAON_REQUIRE_GPU();
  auto data = testing::blobImages(64, 1);
  fs::path dir = freshDir("fp16");
  train::TrainerOptions o = options(Precision::Fp16, 1);
  o.checkpointDir = dir.string();
  o.lossScale.initialScale = 1024;
  o.lossScale.growthInterval = 3;  // 4 steps per epoch: one growth, one good step counted
  TrainRun run(*data, o);
  run.trainer->fit();
  const double scale = run.trainer->lossScaler()->scale();
  TrainRun resumed(*data, options(Precision::Fp16, 2));
  resumed.trainer->resumeFrom(run.trainer->checkpointPath());
  EXPECT_EQ(resumed.trainer->lossScaler()->scale(), scale);
  EXPECT_EQ(resumed.trainer->lossScaler()->goodSteps(), run.trainer->lossScaler()->goodSteps());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kaon
