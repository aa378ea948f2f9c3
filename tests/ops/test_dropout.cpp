// Dropout and its counter-based generator: the generator pinned to the published SplitMix64
// reference vector, CPU and reference masks bit-identical, determinism in (seed, offset), kept
// fraction within binomial bounds, y == x * mask, and the gradient.
#include <gtest/gtest.h>

#include <cmath>

#include "../support/test_util.hpp"
#include "kaon/ops/counter_rng.hpp"
#include "kaon/ops/dropout.hpp"
#include "kaon/ops/reference_scope.hpp"

namespace kaon {
namespace {

using testing::randomTensor;

TEST(CounterRng, MatchesSplitMix64ReferenceVector) {
  // rand_xoshiro's test "reference" (rust-random/rngs, rand_xoshiro/src/splitmix64.rs), produced
  // with Vigna's splitmix64.c from seed 1477776061723855037.
  const std::uint64_t expected[] = {1985237415132408290ull, 2979275885539914483ull, 13511426838097143398ull,
                                    8488337342461049707ull, 15141737807933549159ull};
  for (std::uint64_t n = 0; n < 5; ++n) EXPECT_EQ(ops::splitMix64At(1477776061723855037ull, n), expected[n]) << n;
  static_assert(ops::splitMix64At(0, 0) == 0xE220A8397B1DCDAFull);  // constexpr: usable in kernels
}

TEST(CounterRng, IntegerThresholdEqualsUniformComparison) {
  for (double rate : {0.0, 0.1, 0.25, 1.0 / 3.0, 0.5, 0.7, 0.999}) {
    std::uint32_t t = ops::counterThreshold24(rate);
    for (std::uint64_t i = 0; i < 20000; ++i)
      ASSERT_EQ(ops::counterUniform(99, i) >= rate, ops::counterUniform24(99, i) >= t) << rate << " " << i;
  }
  EXPECT_EQ(ops::counterThreshold24(0.5), 1u << 23);
  EXPECT_EQ(ops::counterThreshold24(1e-9), 1u);  // any positive rate drops the draw 0
}

std::vector<float> maskOf(const Tensor& x, double rate, std::uint64_t seed, std::uint64_t offset = 0) {
  return ops::dropout(x, rate, seed, offset).mask.toVector<float>();
}

TEST(Dropout, CpuAndReferenceDrawTheSameMask) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = randomTensor(Shape{8, 3, 47, 31}, 1, dtype);  // > the parallel threshold
    ops::DropoutResult cpu = ops::dropout(x, 0.3, 12345, 77);
    ops::ReferenceKernelsScope reference;
    ops::DropoutResult ref = ops::dropout(x, 0.3, 12345, 77);
    EXPECT_TENSORS_CLOSE(cpu.mask, ref.mask, 0.0);
    EXPECT_TENSORS_CLOSE(cpu.y, ref.y, 0.0);
  }
}

TEST(Dropout, MaskIsAFunctionOfSeedAndOffset) {
  Tensor x = randomTensor(Shape{4, 250}, 1);
  EXPECT_EQ(maskOf(x, 0.5, 7), maskOf(x, 0.5, 7));  // same seed: same mask
  EXPECT_NE(maskOf(x, 0.5, 7), maskOf(x, 0.5, 8));  // another seed: another mask
  // A tensor processed in two pieces with offsets draws the mask of the whole.
  std::vector<float> whole = maskOf(x, 0.5, 7);
  std::vector<float> tail = maskOf(x.slice(1, 4), 0.5, 7, 250);
  EXPECT_EQ(std::vector<float>(whole.begin() + 250, whole.end()), tail);
  // Element i follows the documented rule.
  for (std::size_t i = 0; i < whole.size(); ++i)
    ASSERT_EQ(whole[i] != 0.0f, ops::counterUniform(7, i) >= 0.5) << i;
}

TEST(Dropout, KeptFractionWithinBinomialBounds) {
  const std::int64_t n = 100000;
  Tensor x = Tensor::full(Shape{n}, 1.0);
  for (double rate : {0.1, 0.3, 0.5, 0.9}) {
    for (std::uint64_t seed : {1ull, 2ull, 1234567ull}) {
      ops::DropoutResult r = ops::dropout(x, rate, seed);
      std::int64_t kept = 0;
      for (float m : r.mask.span<float>()) kept += m != 0.0f;
      // Kept ~ Binomial(n, 1 - rate): 5 standard deviations fail a fair generator ~1e-6 of the time.
      double mean = n * (1 - rate), sd = std::sqrt(n * rate * (1 - rate));
      EXPECT_LT(std::abs(kept - mean), 5 * sd) << "rate " << rate << " seed " << seed << " kept " << kept;
    }
  }
}

TEST(Dropout, OutputIsInputTimesScaledMask) {
  Tensor x = randomTensor(Shape{3, 5, 7}, 1);
  const double rate = 0.4;
  ops::DropoutResult r = ops::dropout(x, rate, 3);
  const float scale = static_cast<float>(1.0 / (1.0 - rate));
  auto X = x.span<float>(), Y = r.y.span<float>(), M = r.mask.span<float>();
  std::int64_t zeros = 0;
  for (std::size_t i = 0; i < X.size(); ++i) {
    ASSERT_TRUE(M[i] == 0.0f || M[i] == scale) << M[i];
    EXPECT_EQ(Y[i], X[i] * M[i]);
    zeros += M[i] == 0.0f;
  }
  EXPECT_GT(zeros, 0);
  // rate 0 keeps everything unscaled; rate 1 is rejected (nothing would be kept).
  EXPECT_TENSORS_CLOSE(ops::dropout(x, 0.0, 3).y, x, 0.0);
  EXPECT_THROW(ops::dropout(x, 1.0, 3), Error);
  EXPECT_THROW(ops::dropout(x, -0.1, 3), Error);
}

TEST(Dropout, GradientMatchesFiniteDifferences) {
  double err = testing::maxGradientError(
      [](const std::vector<Tensor>& v) { return ops::dropout(v[0], 0.5, 11).y; },
      [](const std::vector<Tensor>& v, const Tensor& dy) {
        return std::vector<Tensor>{ops::dropoutBackward(dy, ops::dropout(v[0], 0.5, 11).mask)};
      },
      {randomTensor(Shape{4, 6}, 1, DType::Float64)});
  EXPECT_LT(err, 1e-8);
}

}  // namespace
}  // namespace kaon
