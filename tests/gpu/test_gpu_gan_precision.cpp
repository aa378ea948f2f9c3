// The 3DGAN trainer in mixed precision on the GPU (trainer.precision for both networks): bf16
// against fp32 from the same weights (losses, generator gradients through the frozen
// discriminator, generated showers and metrics), bf16 and fp16 training improving the
// regression heads, fp16 overflow skipping only the overflowing network's update, and
// checkpoints of bf16/fp16 runs holding the fp32 masters (resumable in fp32 and back, fp16
// scales kept per network); and batch norm inside bf16/fp16 models, which the 3DGAN needs.
//
// Tolerances: bf16 keeps 8 mantissa bits (relative rounding 2^-9 ~ 0.2% per stored value); the
// tiny GAN chains about ten layers each way, with ReLU/leaky-ReLU kinks that may flip between
// precisions and batch norm over 16-32 samples. The small CNN of test_gpu_mixed_training.cpp
// measured a bf16 gradient relative L2 error of 0.042 (bound 0.1); these networks are of the
// same depth, so the same bound 0.1 for gradients and showers, 3% (at least 0.03 absolute) for
// losses, 5% for the validation metrics. The printed errors say how much headroom there is.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "../train/gan_fixtures.hpp"
#include "gpu_util.hpp"
#include "kaon/nn/layers/batch_norm.hpp"
#include "kaon/nn/layers/conv.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/reshape.hpp"
#include "kaon/ops/convert.hpp"
#include "kaon/ops/loss.hpp"

namespace kaon::train {
namespace {

using namespace gputest;
namespace fs = std::filesystem;

TrainerOptions precisionOptions(Precision p, std::int64_t batch, int epochs = 1) {
  TrainerOptions o = gantest::tinyOptions(batch, epochs);
  o.precision = p;
  return o;
}

}  // namespace

// ||a - b|| / ||b|| of two float32 tensors (any device); also used by the batch-norm test below.
static double relativeL2(const Tensor& a, const Tensor& b) {
  Tensor x = gputest::toCpu(a), y = gputest::toCpu(b);
  auto u = x.span<float>(), v = y.span<float>();
  double num = 0, den = 0;
  for (std::size_t i = 0; i < u.size(); ++i) num += (u[i] - v[i]) * double(u[i] - v[i]), den += double(v[i]) * v[i];
  return std::sqrt(num / std::max(den, 1e-300));
}

namespace {

// Head h: 0 the BCE of the real/fake logit, 1 and 2 the MAPEs (in percent, as Keras reports
// them) of the energy and ECAL-sum regressions. The ECAL head sums the very image its target
// comes from, so its fp32 loss is ~0 and bf16's is the rounding of the image and of the sum: a
// few tenths of a percent (measured 0.17 on an H200). Hence an absolute 0.5 (percent) there.
void expectLossClose(double lowPrecision, double fp32, int head, const char* what) {
  EXPECT_TRUE(std::isfinite(lowPrecision)) << what << " head " << head;
  const double tol = head == 0 ? 3e-2 * std::max(1.0, std::abs(fp32)) : 3e-2 * std::abs(fp32) + 0.5;
  EXPECT_NEAR(lowPrecision, fp32, tol) << what << " head " << head;
}

data::Batch firstBatch(const data::Dataset& d, std::int64_t n) {
  data::Batch b = d.allocateBatch(n);
  std::vector<std::int64_t> idx(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) idx[i] = i;
  d.read(idx, b);
  return b;
}

fs::path freshDir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("kaon_gpu_ganmp_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

TEST(GpuGanPrecision, Bf16NetworksKeepFp32MastersAndBatchNorm) {
  KAON_REQUIRE_GPU();
  auto data = gantest::tinyShowers(16, 1);
  gantest::TinyGan gan({}, DType::Float32, gpu());
  GanTrainer trainer = gan.trainer(*data, nullptr, precisionOptions(Precision::Bf16, 16));
  for (nn::Model* m : {&gan.setup.generator, &gan.setup.discriminator}) {
    EXPECT_EQ(m->precision(), Precision::Bf16);
    EXPECT_EQ(m->parameters().dtype(), DType::Float32);
    EXPECT_EQ(m->gradients().dtype(), DType::Float32);
    int batchNorms = 0;
    for (const auto& p : m->namedParameters()) {
      const bool bn = p.layer->type() == "batch_norm";
      batchNorms += bn;
      EXPECT_EQ(p.parameter->value.dtype(), bn ? DType::Float32 : DType::BFloat16) << p.name;
    }
    EXPECT_GT(batchNorms, 0);  // the tiny GAN has batch norm in both networks
  }
  EXPECT_EQ(trainer.generatorLossScaler(), nullptr);  // bf16 needs no loss scaling
}

TEST(GpuGanPrecision, Bf16StepTracksTheFp32Step) {
  KAON_REQUIRE_GPU();
  auto data = gantest::tinyShowers(16, 1), val = gantest::tinyShowers(16, 2);
  gantest::TinyGan g32({}, DType::Float32, gpu()), g16({}, DType::Float32, gpu());  // same initial weights
  GanTrainer t32 = g32.trainer(*data, val.get(), precisionOptions(Precision::Fp32, 16));
  GanTrainer t16 = g16.trainer(*data, val.get(), precisionOptions(Precision::Bf16, 16));
  ASSERT_TRUE(testing::tensorsClose(toCpu(g16.setup.generator.parameters()), toCpu(g32.setup.generator.parameters()),
                                    0.0));
  // Generated showers and the physics metrics (fp32 on the host) from the same weights.
  Tensor energies = Tensor::fromVector(Shape{4}, std::vector<float>{15, 40, 70, 95});
  Tensor s32 = t32.generate(energies, 3), s16 = t16.generate(energies, 3);
  EXPECT_TRUE(s16.device().isCpu());
  EXPECT_EQ(s16.dtype(), DType::Float32);
  const double showerError = relativeL2(s16, s32);
  std::printf("bf16 vs fp32 generated showers: relative L2 error %.3g\n", showerError);
  EXPECT_LT(showerError, 0.1);
  auto m32 = t32.evaluate(*val), m16 = t16.evaluate(*val);
  // Relative (the sampling fraction is ~0.01): sums over many cells average the rounding out.
  for (const char* k : {"sampling_fraction_fake", "energy_mape_real", "energy_mape_fake"}) {
    ASSERT_TRUE(m32.count(k) && m16.count(k)) << k;
    EXPECT_TRUE(std::isfinite(m16.at(k))) << k;
    EXPECT_NEAR(m16.at(k), m32.at(k), 5e-2 * std::abs(m32.at(k)) + 1e-6) << k;
  }
  // The generator's gradients through the frozen discriminator (both networks in bf16).
  std::vector<float> noise(64), energy(16), ecal(16);
  for (int i = 0; i < 64; ++i) noise[i] = 0.4f * std::sin(0.7f * static_cast<float>(i));
  const Tensor latent = Tensor::fromVector(Shape{16, 4}, noise);
  for (int i = 0; i < 16; ++i) energy[i] = 0.1f + 0.05f * static_cast<float>(i), ecal[i] = 2.0f * energy[i];
  Tensor e = Tensor::fromVector(Shape{16, 1}, energy).to(gpu()), c = Tensor::fromVector(Shape{16, 1}, ecal).to(gpu());
  const Tensor d16 = toCpu(g16.setup.discriminator.parameters()), b16 = toCpu(g16.setup.discriminator.buffers());
  auto l32 = t32.generatorGradients(latent.to(gpu()), e, c), l16 = t16.generatorGradients(latent.to(gpu()), e, c);
  for (int h = 0; h < 3; ++h) expectLossClose(l16[h], l32[h], h, "generator head loss");
  const double gradError = relativeL2(g16.setup.generator.gradients(), g32.setup.generator.gradients());
  std::printf("bf16 vs fp32 generator gradient: relative L2 error %.3g\n", gradError);
  EXPECT_LT(gradError, 0.1);
  // The frozen discriminator: weights and batch-norm statistics untouched by the generator's pass.
  EXPECT_TRUE(testing::tensorsClose(toCpu(g16.setup.discriminator.parameters()), d16, 0.0));
  EXPECT_TRUE(testing::tensorsClose(toCpu(g16.setup.discriminator.buffers()), b16, 0.0));
  // A whole step: the discriminator's losses on the real batch come from the same weights.
  data::Batch batch = firstBatch(*data, 16);
  GanStepLosses s32l = t32.trainStep(batch, 0), s16l = t16.trainStep(batch, 0);
  for (int h = 0; h < 3; ++h) expectLossClose(s16l.real[h], s32l.real[h], h, "discriminator real-batch loss");
  EXPECT_EQ(g16.setup.discriminatorOptimizer.optimizer->stepCount(), 2);
  EXPECT_EQ(g16.setup.generatorOptimizer.optimizer->stepCount(), g16.setup.options.generatorSteps);
}

TEST(GpuGanPrecision, Bf16AndFp16TrainingImproveTheRegressionHeads) {
  KAON_REQUIRE_GPU();
  // As GanTrainer.RegressionHeadsImproveOverSteps (fp32 on the CPU: x0.48..0.60 and x0.23).
  auto data = gantest::tinyShowers(32, 1);
  for (Precision p : {Precision::Bf16, Precision::Fp16}) {
    gantest::TinyGan gan({}, DType::Float32, gpu());
    TrainerOptions o = precisionOptions(p, 32);
    o.lossScale.initialScale = 1024;  // fp16: close to where these gradients fit
    GanTrainer trainer = gan.trainer(*data, nullptr, o);
    gantest::LossTrend t = gantest::trainOnOneBatch(trainer, *data, 32, 30);
    std::printf("%s: energy MAPE %.4g -> %.4g, generator ECAL MAPE %.4g -> %.4g\n", precisionName(p).data(),
                t.first.real[1], t.last.real[1], t.first.generator[2], t.last.generator[2]);
    EXPECT_TRUE(t.allFinite) << precisionName(p);
    EXPECT_LT(t.last.real[1], 0.8 * t.first.real[1]) << precisionName(p);
    EXPECT_LT(t.last.generator[2], 0.5 * t.first.generator[2]) << precisionName(p);
    if (p == Precision::Fp16) {
      // Overflows back the scales off, at most 10 times from 1024 to scale 1, where these
      // gradients fit (fp32 on the CPU: parameter gradients at most ~500 for the generator, ~70
      // for the discriminator, so 1024 overflows the generator's a few times; the overflow
      // test trains at scale 1). The
      // scales do not grow again within 30 steps (growth_interval 2000). So at least 50 of
      // the 60 updates of each network were applied.
      EXPECT_LE(trainer.generatorLossScaler()->skippedSteps(), 10);
      EXPECT_LE(trainer.discriminatorLossScaler()->skippedSteps(), 10);
      std::printf("fp16 skipped updates: generator %lld, discriminator %lld; scales %g, %g\n",
                  static_cast<long long>(trainer.generatorLossScaler()->skippedSteps()),
                  static_cast<long long>(trainer.discriminatorLossScaler()->skippedSteps()),
                  trainer.generatorLossScaler()->scale(), trainer.discriminatorLossScaler()->scale());
    }
  }
}

TEST(GpuGanPrecision, Fp16OverflowSkipsOnlyThatNetworksUpdate) {
  KAON_REQUIRE_GPU();
  auto data = gantest::tinyShowers(16, 1);
  data::Batch batch = firstBatch(*data, 16);
  const double huge = std::ldexp(1.0, 40);  // any non-zero gradient times 2^40 overflows fp16
  for (bool generatorOverflows : {true, false}) {
    SCOPED_TRACE(generatorOverflows ? "generator overflows" : "discriminator overflows");
    gantest::TinyGan gan({}, DType::Float32, gpu());
    TrainerOptions o = precisionOptions(Precision::Fp16, 16);
    o.lossScale.initialScale = 1;  // fits: no overflow at scale 1
    GanTrainer trainer = gan.trainer(*data, nullptr, o);
    LossScaler* bad = generatorOverflows ? trainer.generatorLossScaler() : trainer.discriminatorLossScaler();
    LossScaler* good = generatorOverflows ? trainer.discriminatorLossScaler() : trainer.generatorLossScaler();
    ASSERT_NE(bad, nullptr);
    ASSERT_NE(good, nullptr);
    bad->setState(Tensor::fromVector<double>(Shape{3}, {huge, 0, 0}));
    nn::Model& badModel = generatorOverflows ? gan.setup.generator : gan.setup.discriminator;
    nn::Model& goodModel = generatorOverflows ? gan.setup.discriminator : gan.setup.generator;
    optim::Optimizer& badOpt = generatorOverflows ? *gan.setup.generatorOptimizer.optimizer
                                                  : *gan.setup.discriminatorOptimizer.optimizer;
    optim::Optimizer& goodOpt = generatorOverflows ? *gan.setup.discriminatorOptimizer.optimizer
                                                   : *gan.setup.generatorOptimizer.optimizer;
    const Tensor bad0 = toCpu(badModel.parameters()), good0 = toCpu(goodModel.parameters());
    trainer.trainStep(batch, 0);
    // Each network updates `updates` times per step: the discriminator twice (real, fake), the
    // generator generator_steps times; every update of the overflowing one was skipped.
    const int badUpdates = generatorOverflows ? gan.setup.options.generatorSteps : 2;
    const int goodUpdates = generatorOverflows ? 2 : gan.setup.options.generatorSteps;
    EXPECT_EQ(bad->skippedSteps(), badUpdates);
    EXPECT_EQ(bad->scale(), std::ldexp(huge, -badUpdates));
    EXPECT_EQ(badOpt.stepCount(), 0);
    EXPECT_TRUE(testing::tensorsClose(toCpu(badModel.parameters()), bad0, 0.0));
    // The other network trained as usual, its scale untouched (growth only after 2000 steps).
    EXPECT_EQ(good->skippedSteps(), 0);
    EXPECT_EQ(good->scale(), 1.0);
    EXPECT_EQ(goodOpt.stepCount(), goodUpdates);
    EXPECT_GT(testing::normalisedError(toCpu(goodModel.parameters()), good0), 0.0);
  }
}

TEST(GpuGanPrecision, Bf16CheckpointHoldsFp32MastersAndResumesEitherWay) {
  KAON_REQUIRE_GPU();
  auto data = gantest::tinyShowers(16, 1);
  fs::path dir = freshDir("bf16");
  TrainerOptions o = precisionOptions(Precision::Bf16, 8);  // 2 steps per epoch
  o.checkpointDir = (dir / "bf16").string();
  gantest::TinyGan bf16({}, DType::Float32, gpu());
  GanTrainer tb = bf16.trainer(*data, nullptr, o);
  tb.fit();
  // The file holds the fp32 masters exactly; they are not bf16 values (RMSprop/Adam updates
  // are not representable), so a file of the bf16 copies would fail this.
  {
    gantest::TinyGan stored({});  // an fp32 CPU copy of the networks, loaded from the file
    loadCheckpoint(tb.checkpointPath(),
                   {{"generator", &stored.setup.generator, stored.setup.generatorOptimizer.optimizer.get()},
                    {"discriminator", &stored.setup.discriminator, stored.setup.discriminatorOptimizer.optimizer.get()}});
    for (auto [file, model] : {std::pair{&stored.setup.generator, &bf16.setup.generator},
                               {&stored.setup.discriminator, &bf16.setup.discriminator}}) {
      const Tensor master = toCpu(model->parameters());
      EXPECT_TRUE(testing::tensorsClose(file->parameters(), master, 0.0));
      EXPECT_TRUE(testing::tensorsClose(file->buffers(), toCpu(model->buffers()), 0.0));
      const Tensor rounded = toCpu(ops::toDType(ops::toDType(model->parameters(), DType::BFloat16), DType::Float32));
      EXPECT_FALSE(testing::tensorsClose(rounded, master, 0.0)) << "masters are bf16 values";
    }
  }
  // bf16 -> fp32: the fp32 run starts from exactly the bf16 run's masters and statistics.
  gantest::TinyGan fp32({}, DType::Float32, gpu());
  TrainerOptions o32 = precisionOptions(Precision::Fp32, 8, 2);
  o32.checkpointDir = (dir / "fp32").string();
  GanTrainer tf = fp32.trainer(*data, nullptr, o32);
  tf.resumeFrom(tb.checkpointPath());
  for (auto [a, b] : {std::pair{&fp32.setup.generator, &bf16.setup.generator},
                      {&fp32.setup.discriminator, &bf16.setup.discriminator}}) {
    EXPECT_TRUE(testing::tensorsClose(toCpu(a->parameters()), toCpu(b->parameters()), 0.0));
    EXPECT_TRUE(testing::tensorsClose(toCpu(a->buffers()), toCpu(b->buffers()), 0.0));
  }
  auto r = tf.fit();  // epoch 2 in fp32
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(std::isfinite(r[0].train.at("g_loss")));
  // fp32 -> bf16 and fp16 (fresh scales: the fp32 file has none), epoch 3.
  for (Precision p : {Precision::Bf16, Precision::Fp16}) {
    gantest::TinyGan resumed({}, DType::Float32, gpu());
    TrainerOptions ro = precisionOptions(p, 8, 3);
    ro.lossScale.initialScale = 1024;
    GanTrainer tr = resumed.trainer(*data, nullptr, ro);
    tr.resumeFrom(tf.checkpointPath());
    EXPECT_EQ(tr.progress().epoch, 2);
    for (auto [a, b] : {std::pair{&resumed.setup.generator, &fp32.setup.generator},
                        {&resumed.setup.discriminator, &fp32.setup.discriminator}})
      EXPECT_TRUE(testing::tensorsClose(toCpu(a->parameters()), toCpu(b->parameters()), 0.0));
    if (p == Precision::Fp16) {
      EXPECT_EQ(tr.generatorLossScaler()->scale(), 1024.0);
    }
    auto rr = tr.fit();
    ASSERT_EQ(rr.size(), 1u) << precisionName(p);
    EXPECT_TRUE(std::isfinite(rr[0].train.at("g_loss"))) << precisionName(p);
  }
  fs::remove_all(dir);
}

TEST(GpuGanPrecision, Fp16CheckpointKeepsBothLossScales) {
  KAON_REQUIRE_GPU();
  auto data = gantest::tinyShowers(16, 1);
  fs::path dir = freshDir("fp16");
  TrainerOptions o = precisionOptions(Precision::Fp16, 8);
  o.checkpointDir = dir.string();
  o.lossScale.initialScale = 1024;
  o.lossScale.growthInterval = 3;  // 2 steps: 4 discriminator updates (one growth), 4 generator updates
  gantest::TinyGan gan({}, DType::Float32, gpu());
  GanTrainer t = gan.trainer(*data, nullptr, o);
  t.fit();
  gantest::TinyGan again({}, DType::Float32, gpu());
  TrainerOptions ro = precisionOptions(Precision::Fp16, 8, 2);
  GanTrainer resumed = again.trainer(*data, nullptr, ro);  // default initial scale 65536
  resumed.resumeFrom(t.checkpointPath());
  EXPECT_EQ(resumed.generatorLossScaler()->scale(), t.generatorLossScaler()->scale());
  EXPECT_EQ(resumed.generatorLossScaler()->goodSteps(), t.generatorLossScaler()->goodSteps());
  EXPECT_EQ(resumed.discriminatorLossScaler()->scale(), t.discriminatorLossScaler()->scale());
  EXPECT_EQ(resumed.discriminatorLossScaler()->goodSteps(), t.discriminatorLossScaler()->goodSteps());
  EXPECT_NE(resumed.generatorLossScaler()->scale(), 65536.0);  // restored, not fresh
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kaon::train

namespace kaon {
namespace {

using namespace gputest;

// conv -> batch norm -> dense on the GPU, built identically for each precision.
nn::Model batchNormNet() {
  nn::Model m;
  m.addInput("x", Shape{2, 6, 6});
  m.add(std::make_unique<nn::Conv>("conv", nn::ConvOptions{.filters = 8, .kernel = {3}, .samePadding = true,
                                                           .activation = ops::Activation::LeakyRelu}));
  m.add(std::make_unique<nn::BatchNorm>("bn"));
  m.add(std::make_unique<nn::Reshape>("flat", std::vector<std::int64_t>{}));
  m.add(std::make_unique<nn::Dense>("out", nn::DenseOptions{.units = 3}));
  m.build(DType::Float32, 11, gpu());
  return m;
}

// Batch norm in bf16/fp16 models (the layer the 3DGAN needs): fp32 parameters, statistics and
// gradients, unscaled under fp16 loss scaling, close to the fp32 model's.
TEST(GpuMixedPrecisionBatchNorm, ComputesInFp32AndMatchesTheFp32Model) {
  KAON_REQUIRE_GPU();
  const Tensor x = toGpu(testing::randomTensor(Shape{32, 2, 6, 6}, 1));
  const Tensor y = toGpu(testing::randomTensor(Shape{32, 3}, 2));
  auto run = [&](nn::Model& m, double scale) {
    m.setGradientScale(scale);
    m.zeroGrad();
    Tensor out = m.forward(x, true);
    ops::LossResult l = ops::loss(ops::LossKind::MeanSquaredError, out, y);
    m.backward(l.grad);
    return l.value;
  };
  nn::Model ref = batchNormNet();
  const double l32 = run(ref, 1.0);
  for (auto [p, scale] : {std::pair{Precision::Bf16, 1.0}, {Precision::Fp16, 256.0}}) {
    SCOPED_TRACE(precisionName(p).data());
    nn::Model m = batchNormNet();
    m.setPrecision(p);
    EXPECT_EQ(m.layer("bn").parameters()[0].value.dtype(), DType::Float32);
    EXPECT_EQ(m.layer("bn").buffers()[0].value.dtype(), DType::Float32);
    EXPECT_EQ(m.layer("conv").parameters()[0].value.dtype(), computeDType(p));
    const double l = run(m, scale);
    EXPECT_NEAR(l, l32, 2e-2 * l32);
    // The whole gradient and batch norm's own slice (gamma, beta: written by the fp32 layer,
    // divided by the loss scale) against fp32; without the unscaling fp16's would be 256x.
    const double all = train::relativeL2(m.gradients(), ref.gradients());
    const auto& gamma = m.layer("bn").parameters()[0];
    const std::int64_t n = 2 * gamma.shape.numel();  // gamma then beta, adjacent in the flat buffer
    const double bn = train::relativeL2(m.gradients().slice(gamma.offset, gamma.offset + n),
                                          ref.gradients().slice(gamma.offset, gamma.offset + n));
    std::printf("%s batch-norm model vs fp32: gradient relative L2 %.3g (batch norm's %.3g)\n",
                precisionName(p).data(), all, bn);
    EXPECT_LT(all, 0.1);
    EXPECT_LT(bn, 0.1);
    // Running statistics updated in fp32 from the 16-bit activations: running_mean (zeros, then
    // 0.01 x the batch mean; the variance's ones would hide a wrong update) against fp32's.
    const auto& mean = m.layer("bn").buffers()[0];
    const std::int64_t c = mean.shape.numel();
    EXPECT_TRUE(testing::tensorsClose(toCpu(m.buffers().slice(mean.offset, mean.offset + c)),
                                      toCpu(ref.buffers().slice(mean.offset, mean.offset + c)), 5e-2));
  }
}

}  // namespace
}  // namespace kaon
