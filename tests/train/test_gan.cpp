// The 3DGAN trainer: generator gradients through the frozen discriminator against finite
// differences (double), a full step (finite losses, both networks move, the generator's pass
// leaves the discriminator untouched), checkpoint + resume equal to an uninterrupted run
// (bitwise), generation, the regression heads improving over steps, precision refused on the
// CPU, and the physics metrics against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "../support/test_util.hpp"
#include "gan_fixtures.hpp"
#include "kaon/train/calo_gan_metrics.hpp"

namespace kaon::train {
namespace {

using gantest::TinyGan;
using gantest::tinyOptions;
using gantest::tinyShowers;
namespace fs = std::filesystem;

std::vector<double> values(const Tensor& t) {
  Tensor c = t.dtype() == DType::Float64 ? t : t.cast(DType::Float64);
  return c.toVector<double>();
}

TEST(GanTrainer, GeneratorGradientsThroughTheFrozenDiscriminatorMatchFiniteDifferences) {
  // Smooth output activation (tanh): finite differences across a ReLU kink would be meaningless.
  TinyGan gan({.outputActivation = "tanh"}, DType::Float64);
  auto data = tinyShowers(8, 1);
  GanTrainer trainer = gan.trainer(*data, nullptr, tinyOptions(4));
  nn::Model& G = gan.setup.generator;
  nn::Model& D = gan.setup.discriminator;
  const auto& w = gan.setup.options.lossWeights;
  Tensor latent = testing::randomTensor(Shape{3, 4}, 2, DType::Float64);
  Tensor energy = testing::randomTensor(Shape{3, 1}, 3, DType::Float64, 0.2, 1.0);
  Tensor ecal = testing::randomTensor(Shape{3, 1}, 4, DType::Float64, 0.5, 2.0);
  // Same dropout masks in every evaluation: the masks follow the models' forward-step counters.
  auto loss = [&] {
    G.setForwardStep(3);
    D.setForwardStep(5);
    auto l = trainer.generatorGradients(latent, energy, ecal);
    return w[0] * l[0] + w[1] * l[1] + w[2] * l[2];
  };
  const std::vector<double> dParams = values(D.parameters()), dBuffers = values(D.buffers());
  D.gradients().fill(7.0);  // a frozen discriminator must not write its gradients
  loss();
  const std::vector<double> analytic = values(G.gradients());
  EXPECT_EQ(values(D.parameters()), dParams);
  EXPECT_EQ(values(D.buffers()), dBuffers);  // running statistics restored
  for (double g : values(D.gradients())) ASSERT_EQ(g, 7.0);
  double* p = G.parameters().data<double>();
  double maxErr = 0, maxGrad = 0;
  for (std::int64_t i = 0; i < G.parameterCount(); ++i) {
    const double keep = p[i], eps = 1e-6;
    p[i] = keep + eps;
    const double up = loss();
    p[i] = keep - eps;
    const double down = loss();
    p[i] = keep;
    const double fd = (up - down) / (2 * eps);
    maxErr = std::max(maxErr, std::abs(fd - analytic[i]) / std::max(1.0, std::abs(fd)));
    maxGrad = std::max(maxGrad, std::abs(analytic[i]));
  }
  EXPECT_GT(maxGrad, 1e-3);  // the check is not vacuous
  EXPECT_LT(maxErr, 1e-5);
}

TEST(GanTrainer, StepGivesFiniteLossesAndMovesBothNetworks) {
  TinyGan gan({});
  auto data = tinyShowers(8, 1);
  GanTrainer trainer = gan.trainer(*data, nullptr, tinyOptions(4));
  nn::Model& G = gan.setup.generator;
  nn::Model& D = gan.setup.discriminator;
  data::Batch batch = data->allocateBatch(4);
  std::vector<std::int64_t> idx{0, 1, 2, 3};
  data->read(idx, batch);
  const Tensor g0 = G.parameters().clone(), d0 = D.parameters().clone();
  GanStepLosses l = trainer.trainStep(batch, 0);
  for (const auto* heads : {&l.real, &l.fake, &l.generator})
    for (double v : *heads) EXPECT_TRUE(std::isfinite(v));
  EXPECT_GT(l.real[0], 0.0);
  EXPECT_NEAR(l.real[2], 0.0, 1e-3);  // the ECAL head sums the very image its target comes from
  EXPECT_GT(testing::normalisedError(G.parameters(), g0), 0.0);
  EXPECT_GT(testing::normalisedError(D.parameters(), d0), 0.0);
  // Two discriminator updates (real, fake) and generator_steps generator updates.
  EXPECT_EQ(gan.setup.discriminatorOptimizer.optimizer->stepCount(), 2);
  EXPECT_EQ(gan.setup.generatorOptimizer.optimizer->stepCount(), gan.setup.options.generatorSteps);
  // Generated showers: the requested count and shape, ReLU output.
  Tensor showers = trainer.generate(Tensor::fromVector(Shape{3}, std::vector<float>{10, 50, 100}), 1);
  EXPECT_EQ(showers.shape(), (Shape{3, 1, 4, 4, 4}));
  for (float v : showers.span<float>()) EXPECT_GE(v, 0.0f);
}

TEST(GanTrainer, RegressionHeadsImproveOverSteps) {
  // The baseline of the GPU bf16/fp16 version (tests/gpu/test_gpu_gan_precision.cpp).
  TinyGan gan({});
  auto data = tinyShowers(32, 1);
  GanTrainer trainer = gan.trainer(*data, nullptr, tinyOptions(32));
  gantest::LossTrend t = gantest::trainOnOneBatch(trainer, *data, 32, 30);
  EXPECT_TRUE(t.allFinite);
  EXPECT_LT(t.last.real[1], 0.8 * t.first.real[1]);
  EXPECT_LT(t.last.generator[2], 0.5 * t.first.generator[2]);
}

TEST(GanTrainer, PrecisionOtherThanFp32NeedsGpuModels) {
  auto data = tinyShowers(8, 1);
  for (Precision p : {Precision::Tf32, Precision::Bf16, Precision::Fp16}) {
    TinyGan gan({});
    TrainerOptions o = tinyOptions(4);
    o.precision = p;
    std::string message;
    try {
      gan.trainer(*data, nullptr, o);
    } catch (const Error& e) {
      message = e.what();
    }
    for (std::string part : {std::string(precisionName(p)), std::string("GPU"), std::string("fp32 only")})
      EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
  }
  // fp32: no loss scalers.
  TinyGan gan({});
  GanTrainer trainer = gan.trainer(*data, nullptr, tinyOptions(4));
  EXPECT_EQ(trainer.generatorLossScaler(), nullptr);
  EXPECT_EQ(trainer.discriminatorLossScaler(), nullptr);
}

TEST(GanTrainer, ResumeReproducesAnUninterruptedRunExactly) {
  fs::path dir = fs::temp_directory_path() / ("kaon_test_gan_resume_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto data = tinyShowers(12, 2), val = tinyShowers(5, 3);
  auto run = [&](int epochs, bool checkpoint, bool resume) {
    auto gan = std::make_unique<TinyGan>(gantest::TinyGanOptions{});
    TrainerOptions o = tinyOptions(4, epochs);
    if (checkpoint) o.checkpointDir = dir.string();
    GanTrainer t = gan->trainer(*data, val.get(), o);
    if (resume) t.resumeFrom(findCheckpoint(dir.string()));
    auto r = t.fit();
    EXPECT_FALSE(r.empty());
    for (const auto& e : r) EXPECT_TRUE(std::isfinite(e.train.at("g_loss")));
    return gan;
  };
  auto straight = run(2, false, false);
  run(1, true, false);
  ASSERT_FALSE(findCheckpoint(dir.string()).empty());
  auto resumed = run(2, true, true);
  for (auto [a, b] : {std::pair{&straight->setup.generator, &resumed->setup.generator},
                      {&straight->setup.discriminator, &resumed->setup.discriminator}}) {
    EXPECT_EQ(a->parameters().toVector<float>(), b->parameters().toVector<float>());
    EXPECT_EQ(a->buffers().toVector<float>(), b->buffers().toVector<float>());
  }
  for (auto [a, b] : {std::pair{straight->setup.generatorOptimizer.optimizer.get(),
                                resumed->setup.generatorOptimizer.optimizer.get()},
                      {straight->setup.discriminatorOptimizer.optimizer.get(),
                       resumed->setup.discriminatorOptimizer.optimizer.get()}}) {
    EXPECT_EQ(a->stepCount(), b->stepCount());
    for (std::size_t k = 0; k < a->state().size(); ++k)
      EXPECT_EQ(a->state()[k].second.toVector<float>(), b->state()[k].second.toVector<float>());
  }
  fs::remove_all(dir);
}

TEST(CaloGanMetrics, MatchHandComputedValues) {
  // Two showers of X=2, Y=1, Z=3 cells (flat index (x * Y + y) * Z + z), E = 20 and 80 GeV.
  Tensor real = Tensor::fromVector(Shape{2, 1, 2, 1, 3}, std::vector<float>{1, 2, 3, 0, 0, 4, 0, 5, 5, 5, 5, 0});
  Tensor fake = Tensor::fromVector(Shape{2, 1, 2, 1, 3}, std::vector<float>{1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2});
  Tensor energy = Tensor::fromVector(Shape{2}, std::vector<float>{20, 80});
  CaloGanMetrics m(Shape{1, 2, 1, 3}, {0, 50, 100});
  m.add(real, fake, energy, Tensor::fromVector(Shape{2}, std::vector<float>{22, 72}),
        Tensor::fromVector(Shape{2}, std::vector<float>{20, 100}));
  auto v = m.values();
  EXPECT_DOUBLE_EQ(v.at("ecal_real_mean_0-50"), 10);
  EXPECT_DOUBLE_EQ(v.at("ecal_fake_mean_0-50"), 6);
  EXPECT_DOUBLE_EQ(v.at("ecal_real_mean_50-100"), 20);
  EXPECT_DOUBLE_EQ(v.at("ecal_fake_mean_50-100"), 12);
  EXPECT_DOUBLE_EQ(v.at("ecal_real_width_0-50"), 0);  // one shower per bin
  EXPECT_NEAR(v.at("sampling_fraction_real"), (10.0 / 20 + 20.0 / 80) / 2, 1e-12);
  EXPECT_NEAR(v.at("sampling_fraction_fake"), (6.0 / 20 + 12.0 / 80) / 2, 1e-12);
  EXPECT_NEAR(v.at("energy_mape_real"), 10.0, 1e-9);
  EXPECT_NEAR(v.at("energy_mape_fake"), 12.5, 1e-9);
  EXPECT_NEAR(v.at("depth_real"), 36.0 / 30, 1e-12);
  EXPECT_NEAR(v.at("depth_fake"), 1.0, 1e-12);
  // z profiles: real [1,2,7] and [5,10,5] (mean [3,6,6]); fake [2,2,2] and [4,4,4] (mean [3,3,3]).
  EXPECT_NEAR(v.at("profile_z_reldiff"), 6.0 / 15, 1e-12);
  EXPECT_NEAR(v.at("profile_z_chi2"), (0 + 9 / 8.5 + 9 / 1.0) / 3, 1e-12);
  // x profiles: real [6,4] and [10,10] (mean [8,7]); fake [3,3] and [6,6] (mean [4.5,4.5]).
  EXPECT_NEAR(v.at("profile_x_reldiff"), 6.0 / 15, 1e-12);
  // Without showers every value is NaN; bad shapes and bins are refused.
  CaloGanMetrics empty(Shape{1, 2, 1, 3}, {0, 50, 100});
  EXPECT_TRUE(std::isnan(empty.values().at("sampling_fraction_real")));
  EXPECT_THROW(CaloGanMetrics(Shape{2, 2, 1, 3}, {0, 50}), Error);
  EXPECT_THROW(CaloGanMetrics(Shape{1, 2, 1, 3}, {50, 10}), Error);
}

}  // namespace
}  // namespace kaon::train
