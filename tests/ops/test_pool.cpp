// Pooling: CPU vs reference parity, gradient checks, hand-computed values.
#include <gtest/gtest.h>

#include "../support/test_util.hpp"
#include "kaon/ops/pool.hpp"
#include "kaon/ops/reference_scope.hpp"

namespace kaon {
namespace {

using testing::randomTensor;

struct PoolCase {
  const char* label;
  Shape x;
  std::vector<int> window;
  ops::ConvParams p;
  bool includePad;
};

std::vector<PoolCase> poolCases() {
  return {
      {"2d_2x2", {2, 3, 8, 8}, {2}, {}, false},
      {"2d_3x3_s2_pad", {2, 2, 9, 7}, {3}, {{2}, {}, {1}, {1}}, false},
      {"2d_3x3_s2_pad_incl", {2, 2, 9, 7}, {3}, {{2}, {}, {1}, {1}}, true},
      {"2d_odd_floor", {1, 2, 7, 5}, {2, 3}, {}, false},
      {"1d", {2, 3, 10}, {3}, {{1}, {}, {1}, {1}}, false},
      {"3d_2x2x2", {2, 2, 6, 4, 6}, {2}, {}, false},
      {"3d_asym", {1, 2, 5, 7, 6}, {3, 2, 2}, {{1, 2, 2}, {}, {1, 0, 0}, {1, 1, 0}}, false},
  };
}

class PoolTest : public ::testing::TestWithParam<std::tuple<int, ops::PoolKind>> {};

TEST_P(PoolTest, CpuMatchesReference) {
  auto [i, kind] = GetParam();
  PoolCase c = poolCases()[i];
  SCOPED_TRACE(c.label);
  Tensor x = randomTensor(c.x, 1);
  ops::PoolResult r = ops::pool(kind, x, c.window, c.p, c.includePad);
  Tensor dy = randomTensor(r.y.shape(), 2);
  Tensor dx = ops::poolBackward(kind, dy, r.argmax, x.shape(), c.window, c.p, c.includePad);
  ops::ReferenceKernelsScope reference;
  ops::PoolResult ref = ops::pool(kind, x, c.window, c.p, c.includePad);
  EXPECT_TENSORS_CLOSE(r.y, ref.y, 1e-6);
  if (kind == ops::PoolKind::Max) {
    EXPECT_EQ(r.argmax.toVector<std::int32_t>(), ref.argmax.toVector<std::int32_t>());
  }
  EXPECT_TENSORS_CLOSE(dx, ops::poolBackward(kind, dy, ref.argmax, x.shape(), c.window, c.p, c.includePad), 1e-6);
}

TEST_P(PoolTest, GradientsMatchFiniteDifferences) {
  auto [i, kind] = GetParam();
  PoolCase c = poolCases()[i];
  SCOPED_TRACE(c.label);
  Tensor argmax;
  double err = testing::maxGradientError(
      [&](const std::vector<Tensor>& v) {
        ops::PoolResult r = ops::pool(kind, v[0], c.window, c.p, c.includePad);
        argmax = r.argmax;
        return r.y;
      },
      [&](const std::vector<Tensor>& v, const Tensor& dy) {
        ops::PoolResult r = ops::pool(kind, v[0], c.window, c.p, c.includePad);
        return std::vector<Tensor>{ops::poolBackward(kind, dy, r.argmax, v[0].shape(), c.window, c.p, c.includePad)};
      },
      {randomTensor(c.x, 3, DType::Float64)});
  EXPECT_LT(err, 1e-7);
}

INSTANTIATE_TEST_SUITE_P(Cases, PoolTest,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(poolCases().size())),
                                            ::testing::Values(ops::PoolKind::Max, ops::PoolKind::Average)));

TEST(Pool, HandComputedValues) {
  Tensor x = Tensor::fromVector<float>(Shape{1, 1, 2, 4}, {1, 5, 2, 0, 3, 4, 8, 7});
  ops::PoolResult m = ops::pool(ops::PoolKind::Max, x, {2}, {});
  EXPECT_EQ(m.y.toVector<float>(), (std::vector<float>{5, 8}));
  EXPECT_EQ(m.argmax.toVector<std::int32_t>(), (std::vector<std::int32_t>{1, 6}));
  ops::PoolResult a = ops::pool(ops::PoolKind::Average, x, {2}, {});
  EXPECT_EQ(a.y.toVector<float>(), (std::vector<float>{13.0f / 4, 17.0f / 4}));
  // Padding: excluded from the average by default, included on request.
  Tensor ones = Tensor::full(Shape{1, 1, 2, 2}, 1.0);
  ops::ConvParams pad{{2}, {}, {1}, {1}};
  EXPECT_EQ(ops::pool(ops::PoolKind::Average, ones, {2}, pad).y.toVector<float>(), (std::vector<float>(4, 1.0f)));
  EXPECT_EQ(ops::pool(ops::PoolKind::Average, ones, {2}, pad, true).y.toVector<float>(),
            (std::vector<float>(4, 0.25f)));
}

}  // namespace
}  // namespace kaon
