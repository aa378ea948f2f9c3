// Learning-rate schedules at chosen steps, LR scaling rules, and gradient clipping.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "../support/test_util.hpp"
#include "kaon/optim/clip.hpp"
#include "kaon/optim/schedule.hpp"

namespace kaon {
namespace {

using namespace optim;

TEST(Schedule, Constant) {
  ConstantSchedule s(0.1);
  EXPECT_EQ(s.lr(0), 0.1);
  EXPECT_EQ(s.lr(123456), 0.1);
  EXPECT_THROW(s.lr(-1), Error);
  EXPECT_THROW(ConstantSchedule(0.0), Error);
}

TEST(Schedule, StepDecayBoundaries) {
  StepDecaySchedule s(0.1, 0.5, 10);
  EXPECT_DOUBLE_EQ(s.lr(0), 0.1);
  EXPECT_DOUBLE_EQ(s.lr(9), 0.1);  // last step of the first interval
  EXPECT_DOUBLE_EQ(s.lr(10), 0.05);
  EXPECT_DOUBLE_EQ(s.lr(19), 0.05);
  EXPECT_DOUBLE_EQ(s.lr(20), 0.025);
  EXPECT_DOUBLE_EQ(s.lr(35), 0.0125);
  EXPECT_THROW(StepDecaySchedule(0.1, 0.5, 0), Error);
}

TEST(Schedule, ExponentialIsSmooth) {
  ExponentialSchedule s(0.1, 0.5, 10);
  EXPECT_DOUBLE_EQ(s.lr(0), 0.1);
  EXPECT_DOUBLE_EQ(s.lr(5), 0.1 * std::sqrt(0.5));  // between boundaries, not a staircase
  EXPECT_DOUBLE_EQ(s.lr(10), 0.05);
  EXPECT_DOUBLE_EQ(s.lr(30), 0.0125);
}

TEST(Schedule, CosineAnnealing) {
  CosineSchedule s(0.1, 0.01, 100);
  EXPECT_DOUBLE_EQ(s.lr(0), 0.1);
  EXPECT_DOUBLE_EQ(s.lr(50), (0.1 + 0.01) / 2);  // midpoint
  EXPECT_NEAR(s.lr(25), 0.01 + 0.09 * (1 + std::cos(std::numbers::pi / 4)) / 2, 1e-16);
  EXPECT_NEAR(s.lr(100), 0.01, 1e-16);
  EXPECT_NEAR(s.lr(1000), 0.01, 1e-16);  // held at min_lr after the run
  EXPECT_GT(s.lr(49), s.lr(50));
  EXPECT_THROW(CosineSchedule(0.1, 0.2, 100), Error);  // min_lr above lr
  EXPECT_THROW(CosineSchedule(0.1, 0.0, 0), Error);
}

TEST(Schedule, WarmupOverConstant) {
  WarmupSchedule s(std::make_unique<ConstantSchedule>(0.1), 10, 0.1);
  EXPECT_DOUBLE_EQ(s.lr(0), 0.01);                    // start: factor * lr
  EXPECT_DOUBLE_EQ(s.lr(5), 0.1 * (0.1 + 0.9 * 0.5));  // halfway up the ramp
  EXPECT_DOUBLE_EQ(s.lr(9), 0.1 * (0.1 + 0.9 * 0.9));
  EXPECT_DOUBLE_EQ(s.lr(10), 0.1);  // end of warm-up: the full lr
  EXPECT_DOUBLE_EQ(s.lr(500), 0.1);
  EXPECT_THROW(WarmupSchedule(std::make_unique<ConstantSchedule>(0.1), 10, 1.5), Error);
  EXPECT_THROW(WarmupSchedule(nullptr, 10, 0.1), Error);
}

TEST(Schedule, WarmupComposesWithDecays) {
  // Step decay keeps its absolute boundaries (Goyal et al.: decays at fixed epochs).
  WarmupSchedule step(std::make_unique<StepDecaySchedule>(0.4, 0.1, 20), 5, 0.25);
  EXPECT_DOUBLE_EQ(step.lr(0), 0.1);
  EXPECT_DOUBLE_EQ(step.lr(5), 0.4);
  EXPECT_DOUBLE_EQ(step.lr(19), 0.4);
  EXPECT_NEAR(step.lr(20), 0.04, 1e-17);
  // Cosine: ramp up, no jump where the warm-up ends, then the cosine curve itself.
  auto cosine = std::make_unique<CosineSchedule>(0.1, 0.0, 100);
  const CosineSchedule& inner = *cosine;
  WarmupSchedule warm(std::move(cosine), 10, 0.0);
  EXPECT_EQ(warm.lr(0), 0.0);
  EXPECT_LT(warm.lr(9), warm.lr(10));
  EXPECT_DOUBLE_EQ(warm.lr(10), inner.lr(10));
  EXPECT_DOUBLE_EQ(warm.lr(50), 0.05);
  EXPECT_NE(warm.describe().find("cosine"), std::string::npos) << warm.describe();
  EXPECT_NE(warm.describe().find("warmup"), std::string::npos) << warm.describe();
}

TEST(Schedule, ScalingRules) {
  auto s = scaled(std::make_unique<CosineSchedule>(0.1, 0.01, 100), 4.0);
  EXPECT_DOUBLE_EQ(s->lr(0), 0.4);
  EXPECT_DOUBLE_EQ(s->lr(50), 4 * 0.055);
  EXPECT_EQ(lrScaleFactor(LrScaling::None, 8), 1.0);
  EXPECT_EQ(lrScaleFactor(LrScaling::Linear, 8), 8.0);
  EXPECT_DOUBLE_EQ(lrScaleFactor(LrScaling::Sqrt, 4), 2.0);
  EXPECT_THROW(lrScaleFactor(LrScaling::Linear, 0), Error);
  EXPECT_THROW(scaled(std::make_unique<ConstantSchedule>(0.1), -2.0), Error);
}

// ---- clipping -------------------------------------------------------------------------------

// Gradients [3 0 0 | 100 100 | 0 4 0]: trainable norm 5, frozen middle excluded.
Tensor clipGrads(DType dtype) {
  return Tensor::fromVector<double>(Shape{8}, {3, 0, 0, 100, 100, 0, 4, 0}).cast(dtype);
}
const Ranges kClipRanges = {{0, 3}, {5, 3}};

TEST(Clip, NoOpBelowMaxNorm) {
  Tensor g = clipGrads(DType::Float64), before = g.clone();
  EXPECT_DOUBLE_EQ(clipGradientNorm(g, kClipRanges, 10.0), 5.0);
  EXPECT_EQ(g.toVector<double>(), before.toVector<double>());
  EXPECT_DOUBLE_EQ(clipGradientNorm(g, kClipRanges, 5.0), 5.0);  // at the limit: unchanged
  EXPECT_EQ(g.toVector<double>(), before.toVector<double>());
}

TEST(Clip, ScalesToMaxNorm) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor g = clipGrads(dtype);
    EXPECT_NEAR(clipGradientNorm(g, kClipRanges, 1.0), 5.0, 1e-12);
    double tol = dtype == DType::Float32 ? 1e-6 : 1e-15;
    EXPECT_NEAR(gradientNorm(g, kClipRanges), 1.0, tol);
    EXPECT_NEAR(g.item(0), 0.6, tol);  // direction kept
    EXPECT_NEAR(g.item(6), 0.8, tol);
    EXPECT_EQ(g.item(3), 100.0);  // frozen gradients untouched
    EXPECT_EQ(g.item(4), 100.0);
  }
}

TEST(Clip, NonFiniteNormIsAnError) {
  for (double bad : {NAN, INFINITY}) {
    Tensor g = clipGrads(DType::Float32);
    g.span<float>()[1] = static_cast<float>(bad);
    try {
      clipGradientNorm(g, kClipRanges, 1.0);
      ADD_FAILURE() << "no error for " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("NaN or infinite"), std::string::npos) << e.what();
    }
  }
  Tensor frozenNan = clipGrads(DType::Float64);
  frozenNan.span<double>()[3] = NAN;  // outside the ranges: not part of the norm
  EXPECT_DOUBLE_EQ(clipGradientNorm(frozenNan, kClipRanges, 1.0), 5.0);
  EXPECT_THROW(clipGradientNorm(clipGrads(DType::Float64), kClipRanges, 0.0), Error);
}

}  // namespace
}  // namespace kaon
