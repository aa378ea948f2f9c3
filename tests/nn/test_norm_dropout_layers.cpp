// batch_norm and dropout layers: finite-difference gradients (double) in a one-layer model,
// running statistics and buffers through the model, eval behaviour, and dropout mask replay.
#include <gtest/gtest.h>

#include "../support/test_util.hpp"
#include "kaon/nn/layers/batch_norm.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/dropout.hpp"
#include "kaon/nn/model.hpp"

namespace kaon::nn {
namespace {

using testing::maxLayerGradientError;
using testing::randomTensor;
constexpr double kTol = 1e-7;

TEST(BatchNormLayer, GradientsInTrainingMode) {
  // Checks x, gamma and beta through the batch statistics.
  EXPECT_LT(maxLayerGradientError(std::make_unique<BatchNorm>("bn"), {Shape{4}}, 5), kTol);
  EXPECT_LT(maxLayerGradientError(std::make_unique<BatchNorm>("bn"), {Shape{3, 7}}, 3), kTol);
  EXPECT_LT(maxLayerGradientError(std::make_unique<BatchNorm>("bn"), {Shape{2, 4, 3}}, 3), kTol);
  EXPECT_LT(maxLayerGradientError(std::make_unique<BatchNorm>("bn"), {Shape{2, 3, 2, 3}}, 2), kTol);
  BatchNormOptions noAffine{.center = false, .scale = false};
  EXPECT_LT(maxLayerGradientError(std::make_unique<BatchNorm>("bn", noAffine), {Shape{3, 5}}, 4), kTol);
  BatchNormOptions scaleOnly{.center = false};
  EXPECT_LT(maxLayerGradientError(std::make_unique<BatchNorm>("bn", scaleOnly), {Shape{3, 5}}, 4), kTol);
}

TEST(BatchNormLayer, GradientsInEvalMode) {
  EXPECT_LT(maxLayerGradientError(std::make_unique<BatchNorm>("bn"), {Shape{3, 4, 2}}, 3, false), kTol);
}

Model bnModel(BatchNormOptions o = {}) {
  Model m;
  m.addInput("x", Shape{2, 3});
  m.add(std::make_unique<BatchNorm>("bn", o));
  m.build(DType::Float64, 1);
  return m;
}

TEST(BatchNormLayer, ParametersBuffersAndRunningStatistics) {
  Model m = bnModel({.momentum = 0.8});
  EXPECT_EQ(m.parameterCount(), 4);  // gamma [2], beta [2]
  auto buffers = m.namedBuffers();
  ASSERT_EQ(buffers.size(), 2u);
  EXPECT_EQ(buffers[0].first, "bn.running_mean");
  EXPECT_EQ(buffers[1].first, "bn.running_var");
  EXPECT_EQ(m.buffers().toVector<double>(), (std::vector<double>{0, 0, 1, 1}));  // zeros, ones
  EXPECT_EQ(m.layer("bn").parameter("gamma").value.toVector<double>(), (std::vector<double>{1, 1}));
  // Channel 0 = {1, 2, 3, 5, 7, 8} (mean 26/6), channel 1 = {0, ..., 0, 6} (mean 1).
  Tensor x = Tensor::fromVector<double>(Shape{2, 2, 3}, {1, 2, 3, 0, 0, 0, 5, 7, 8, 0, 0, 6});
  Tensor y = m.forward(x, true);
  auto stats = m.buffers().toVector<double>();
  double mean0 = 26.0 / 6, var0 = 0, var1 = (5 * 1.0 + 25.0) / 5;  // unbiased: sum of squares / (M-1)
  for (double v : {1.0, 2.0, 3.0, 5.0, 7.0, 8.0}) var0 += (v - mean0) * (v - mean0) / 5;
  EXPECT_NEAR(stats[0], 0.2 * mean0, 1e-12);
  EXPECT_NEAR(stats[1], 0.2 * 1.0, 1e-12);
  EXPECT_NEAR(stats[2], 0.8 + 0.2 * var0, 1e-12);
  EXPECT_NEAR(stats[3], 0.8 + 0.2 * var1, 1e-12);
  // Eval uses the running statistics (gamma 1, beta 0, epsilon 1e-3) and leaves them alone.
  Tensor ye = m.forward(x, false);
  EXPECT_NEAR(ye.item(0), (1 - stats[0]) / std::sqrt(stats[2] + 1e-3), 1e-12);
  EXPECT_NEAR(ye.item(11), (6 - stats[1]) / std::sqrt(stats[3] + 1e-3), 1e-12);
  EXPECT_EQ(m.buffers().toVector<double>(), stats);
}

TEST(BatchNormLayer, FrozenLayerStillPropagates) {
  Model m = bnModel();
  m.setFrozen("bn", true);
  Tensor x = randomTensor(Shape{4, 2, 3}, 1, DType::Float64);
  Tensor y = m.forward(x, true);
  m.zeroGrad();
  Tensor dx = m.backward(randomTensor(y.shape(), 2, DType::Float64), BackwardOptions{true, true});
  EXPECT_EQ(m.gradients().toVector<double>(), std::vector<double>(4, 0.0));
  EXPECT_GT(testing::normalisedError(dx, Tensor::zeros(dx.shape(), DType::Float64)), 0.0);
}

TEST(DropoutLayer, GradientWithReplayedMask) {
  EXPECT_LT(maxLayerGradientError(std::make_unique<Dropout>("d", 0.4), {Shape{3, 5}}, 4), kTol);
}

Model dropoutModel(double rate) {
  Model m;
  m.addInput("x", Shape{1000});
  m.add(std::make_unique<Dropout>("d1", rate));
  m.add(std::make_unique<Dropout>("d2", rate));
  m.setOutputs({"d1"});
  m.build(DType::Float32, 5);
  return m;
}

TEST(DropoutLayer, MaskDependsOnSeedStepAndLayer) {
  Model m = dropoutModel(0.5);
  Tensor x = Tensor::full(Shape{2, 1000}, 1.0);
  auto& d1 = static_cast<Dropout&>(m.layer("d1"));
  auto& d2 = static_cast<Dropout&>(m.layer("d2"));
  m.forward(x, true);  // step 0
  std::vector<float> step0 = d1.mask().toVector<float>(), layer2 = d2.mask().toVector<float>();
  EXPECT_NE(step0, layer2);  // two layers of one step draw different masks
  m.forward(x, true);        // step 1
  EXPECT_NE(d1.mask().toVector<float>(), step0);
  m.setForwardStep(0);  // replay step 0
  Tensor y = m.forward(x, true);
  EXPECT_EQ(d1.mask().toVector<float>(), step0);
  EXPECT_EQ(y.toVector<float>(), step0);  // y = x * mask with x = 1
  // A second model with the same seed replays the same stream; the documented derivation holds.
  Model other = dropoutModel(0.5);
  other.forward(x, true);
  EXPECT_EQ(static_cast<Dropout&>(other.layer("d1")).mask().toVector<float>(), step0);
  EXPECT_EQ(Dropout::streamSeed({true, 5, 0, 0}), Dropout::streamSeed({false, 5, 0, 0}));
  EXPECT_NE(Dropout::streamSeed({true, 5, 0, 0}), Dropout::streamSeed({true, 6, 0, 0}));
}

TEST(DropoutLayer, EvalIsIdentityAndTrainingDrops) {
  Model m = dropoutModel(0.3);
  Tensor x = randomTensor(Shape{4, 1000}, 1);
  Tensor ye = m.forward(x, false);
  EXPECT_EQ(ye.toVector<float>(), x.toVector<float>());
  EXPECT_FALSE(static_cast<Dropout&>(m.layer("d1")).mask().defined());
  Tensor dy = randomTensor(ye.shape(), 2);
  Tensor dx = m.backward(dy, BackwardOptions{true, true});
  EXPECT_EQ(dx.toVector<float>(), dy.toVector<float>());  // identity backward in eval
  Tensor yt = m.forward(x, true);
  const Tensor& mask = static_cast<Dropout&>(m.layer("d1")).mask();
  std::int64_t dropped = 0;
  for (float v : mask.span<float>()) dropped += v == 0.0f;
  EXPECT_NEAR(static_cast<double>(dropped) / 4000.0, 0.3, 0.05);
  auto X = x.span<float>(), Y = yt.span<float>(), M = mask.span<float>();
  for (std::size_t i = 0; i < X.size(); ++i) ASSERT_EQ(Y[i], X[i] * M[i]) << i;
  EXPECT_THROW(Dropout("bad", 1.0), Error);
}

}  // namespace
}  // namespace kaon::nn
