// The fp16 loss scaler's state machine (CPU only: the GPU tests check it inside training).
#include <gtest/gtest.h>

#include <cmath>

#include "kaon/train/loss_scaler.hpp"

namespace kaon::train {
namespace {

TEST(LossScaler, StartsAtTwoToTheSixteenth) { EXPECT_EQ(LossScaler().scale(), 65536.0); }

TEST(LossScaler, OverflowSkipsTheStepAndHalves) {
  LossScaler s;
  EXPECT_TRUE(s.update(true));
  EXPECT_EQ(s.goodSteps(), 1);
  EXPECT_FALSE(s.update(false));
  EXPECT_EQ(s.scale(), 32768.0);
  EXPECT_EQ(s.goodSteps(), 0);  // the growth count restarts
  EXPECT_EQ(s.skippedSteps(), 1);
  EXPECT_FALSE(s.update(false));
  EXPECT_EQ(s.scale(), 16384.0);
}

TEST(LossScaler, DoublesAfterTheGrowthIntervalAndStaysInBounds) {
  LossScaler s({.initialScale = 4, .growthInterval = 3, .minScale = 1, .maxScale = 16});
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(s.update(true));
  EXPECT_EQ(s.scale(), 4);
  EXPECT_TRUE(s.update(true));
  EXPECT_EQ(s.scale(), 8);
  for (int i = 0; i < 9; ++i) s.update(true);
  EXPECT_EQ(s.scale(), 16);  // capped at maxScale
  for (int i = 0; i < 10; ++i) s.update(false);
  EXPECT_EQ(s.scale(), 1);  // floored at minScale
  EXPECT_EQ(s.skippedSteps(), 10);
}

TEST(LossScaler, StateRoundTripsAndIsValidated) {
  LossScaler a({.initialScale = 1024, .growthInterval = 5});
  a.update(true);
  a.update(true);
  a.update(false);
  a.update(true);
  LossScaler b;
  b.setState(a.state());
  EXPECT_EQ(b.scale(), 512);
  EXPECT_EQ(b.goodSteps(), 1);
  EXPECT_EQ(b.skippedSteps(), 1);
  EXPECT_THROW(b.setState(Tensor::fromVector<double>(Shape{3}, {-1.0, 0.0, 0.0})), Error);
  EXPECT_THROW(b.setState(Tensor::fromVector<double>(Shape{2}, {1.0, 0.0})), Error);
  EXPECT_THROW(LossScaler({.initialScale = 0}), Error);
  EXPECT_THROW(LossScaler({.growthInterval = 0}), Error);
}

}  // namespace
}  // namespace kaon::train
