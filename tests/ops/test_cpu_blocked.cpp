// The blocked CPU kernels at sizes the small parity cases do not reach: Kaon's packed sgemm
// across several KC/MC blocks, ragged edges and thread counts, and the implicit-im2col
// convolutions (sample-parallel, GEMM-parallel, flipped-kernel backward data, 3-D) against
// the reference kernels.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "../support/test_util.hpp"
#include "kaon/core/runtime.hpp"
#include "kaon/ops/conv.hpp"
#include "kaon/ops/linalg.hpp"
#include "kaon/ops/pool.hpp"
#include "kaon/ops/reference_scope.hpp"

namespace kaon {
namespace {

using testing::randomTensor;

// Restores the default thread count when a test ends.
struct ThreadsGuard {
  explicit ThreadsGuard(int n) { setNumThreads(n); }
  ~ThreadsGuard() { setNumThreads(0); }
};

TEST(BlockedGemm, LargeAndRaggedShapesMatchReference) {
  struct Dims {
    std::int64_t m, n, k;
  };
  for (int threads : {1, 2, 3}) {
    ThreadsGuard guard(threads);
    for (Dims d : {Dims{150, 300, 530}, Dims{7, 4100, 260}, Dims{301, 17, 700}, Dims{1, 33, 5}, Dims{64, 64, 0}})
      for (int t = 0; t < 4; ++t)
        for (double beta : {0.0, 0.3}) {
          const bool ta = t & 2, tb = t & 1;
          SCOPED_TRACE(::testing::Message() << "threads " << threads << " " << d.m << "x" << d.n << "x" << d.k
                                            << " ta=" << ta << " tb=" << tb << " beta=" << beta);
          Tensor a = randomTensor(ta ? Shape{d.k, d.m} : Shape{d.m, d.k}, 1);
          Tensor b = randomTensor(tb ? Shape{d.n, d.k} : Shape{d.k, d.n}, 2);
          Tensor c = randomTensor(Shape{d.m, d.n}, 3), cRef = c.clone();
          if (beta == 0.0) c.span<float>()[0] = std::numeric_limits<float>::quiet_NaN();  // must not be read
          ops::gemm(ta, tb, 0.7, a, b, beta, c);
          ops::ReferenceKernelsScope reference;
          ops::gemm(ta, tb, 0.7, a, b, beta, cRef);
          EXPECT_TENSORS_CLOSE(c, cRef, 1e-5);
        }
  }
}

TEST(BlockedGemm, ResultDoesNotDependOnThreads) {
  Tensor a = randomTensor(Shape{200, 700}, 1), b = randomTensor(Shape{700, 333}, 2);
  Tensor c1 = randomTensor(Shape{200, 333}, 3), c2 = c1.clone();
  {
    ThreadsGuard guard(1);
    ops::gemm(false, false, 1.0, a, b, 0.5, c1);
  }
  {
    ThreadsGuard guard(2);
    ops::gemm(false, false, 1.0, a, b, 0.5, c2);
  }
  EXPECT_EQ(std::memcmp(c1.raw(), c2.raw(), c1.bytes()), 0);
}

struct BigConv {
  const char* label;
  Shape x, w;
  ops::ConvParams p;
};

class BlockedConv : public ::testing::TestWithParam<std::tuple<int, int>> {};

std::vector<BigConv> bigConvs() {
  auto same = [](std::vector<std::int64_t> s, std::vector<std::int64_t> k) { return ops::samePadding(s, k, {1}); };
  return {
      {"jet_like_3x3", {4, 20, 17, 19}, {24, 20, 3, 3}, same({17, 19}, {3, 3})},
      {"wide_rows_9x9", {2, 3, 40, 70}, {16, 3, 9, 9}, same({40, 70}, {9, 9})},
      {"one_filter_5x5", {3, 32, 21, 23}, {1, 32, 5, 5}, same({21, 23}, {5, 5})},
      {"batch1_many_channels", {1, 70, 12, 13}, {40, 70, 3, 3}, same({12, 13}, {3, 3})},
      {"pointwise_wide", {3, 40, 9, 31}, {50, 40, 1, 1}, {}},
      {"3d_gan_like", {3, 1, 11, 12, 13}, {8, 1, 5, 6, 6}, same({11, 12, 13}, {5, 6, 6})},
      {"strided_dilated", {2, 6, 23, 21}, {7, 6, 3, 3}, {{2, 1}, {1, 2}, {1, 2}, {1, 0}}},
      {"overpadded", {2, 5, 9, 10}, {6, 5, 3, 2}, {{}, {}, {3, 2}, {1, 4}}},
      // Output rows of 16 / 8 pixels: the padded-input packers (vector runs, 8x8 transposes).
      {"rows_of_16", {3, 5, 6, 32}, {7, 5, 3, 3}, same({6, 32}, {3, 3})},
      {"rows_of_16_dilated", {2, 4, 10, 16}, {9, 4, 3, 3}, {{1}, {2}, {2}, {2}}},
      {"rows_of_8_3d_even", {2, 3, 4, 5, 8}, {6, 3, 3, 2, 3}, same({4, 5, 8}, {3, 2, 3})},
      // The register-blocked direct kernel (<= 8 output channels): rows shorter than a vector,
      // of exactly two vectors and longer (several 32-wide blocks), a remainder group.
      {"direct_gan_d2_like", {2, 12, 9, 8, 22}, {8, 12, 5, 6, 6}, same({9, 8, 22}, {5, 6, 6})},
      {"direct_short_rows", {3, 5, 6, 7}, {7, 5, 3, 4}, same({6, 7}, {3, 4})},
      {"direct_long_rows_3d", {1, 4, 3, 4, 45}, {5, 4, 2, 3, 8}, {{}, {}, {1, 0, 3}, {0, 2, 4}}},
      {"direct_rows_of_32", {2, 3, 4, 32}, {6, 3, 1, 1}, {}},
  };
}

TEST_P(BlockedConv, CpuMatchesReference) {
  auto [index, threads] = GetParam();
  BigConv c = bigConvs()[index];
  SCOPED_TRACE(::testing::Message() << c.label << " threads " << threads);
  ThreadsGuard guard(threads);
  Tensor x = randomTensor(c.x, 1), w = randomTensor(c.w, 2);
  Tensor y = ops::conv(x, w, Tensor(), c.p);
  Tensor dy = randomTensor(y.shape(), 4);
  Tensor dx = ops::convBackwardData(dy, w, x.shape(), c.p);
  Tensor dw = randomTensor(w.shape(), 5), dwRef = dw.clone();
  ops::convBackwardParams(x, dy, dw, Tensor(), 0.5, c.p);
  Tensor dw0 = randomTensor(w.shape(), 6), dw0Ref = dw0.clone();
  dw0.span<float>()[0] = std::numeric_limits<float>::quiet_NaN();  // beta 0: old contents ignored
  ops::convBackwardParams(x, dy, dw0, Tensor(), 0.0, c.p);
  ops::ReferenceKernelsScope reference;
  EXPECT_TENSORS_CLOSE(y, ops::conv(x, w, Tensor(), c.p), 1e-5);
  EXPECT_TENSORS_CLOSE(dx, ops::convBackwardData(dy, w, x.shape(), c.p), 1e-5);
  ops::convBackwardParams(x, dy, dwRef, Tensor(), 0.5, c.p);
  ops::convBackwardParams(x, dy, dw0Ref, Tensor(), 0.0, c.p);
  EXPECT_TENSORS_CLOSE(dw, dwRef, 1e-5);
  EXPECT_TENSORS_CLOSE(dw0, dw0Ref, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Geometries, BlockedConv,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(bigConvs().size())),
                                            ::testing::Values(1, 2)));

TEST(BlockedConv, ResultsDoNotDependOnThreads) {
  // Forward, backward data and backward filter are bit-identical for 1, 2 and 3 threads
  // (sample-parallel and GEMM-parallel paths, padded and generic packers).
  for (Shape xs : {Shape{4, 6, 8, 16}, Shape{3, 6, 7, 9}, Shape{9, 6, 5, 8}}) {
    Shape ws{10, 6, 3, 3};
    ops::ConvParams p = ops::samePadding(std::vector<std::int64_t>{xs[2], xs[3]}, std::vector<std::int64_t>{3, 3}, {1});
    Tensor x = randomTensor(xs, 1), w = randomTensor(ws, 2);
    std::vector<Tensor> results;
    for (int threads : {1, 2, 3}) {
      ThreadsGuard guard(threads);
      Tensor y = ops::conv(x, w, Tensor(), p);
      Tensor dy = randomTensor(y.shape(), 3);
      Tensor dw = randomTensor(ws, 4);
      ops::convBackwardParams(x, dy, dw, Tensor(), 0.5, p);
      results.insert(results.end(), {y, ops::convBackwardData(dy, w, xs, p), dw});
    }
    for (std::size_t i = 3; i < results.size(); ++i)
      EXPECT_EQ(std::memcmp(results[i].raw(), results[i % 3].raw(), results[i].bytes()), 0)
          << xs.str() << " output " << i % 3 << " threads " << 1 + i / 3;
  }
}

TEST(BlockedPool, MaxPool2x2FastPathMatchesReferenceWithTiesAndOddSizes) {
  // Values on a coarse grid so windows hold ties: the first maximum must win, as in the reference.
  Tensor x = randomTensor(Shape{3, 5, 9, 11}, 1);
  for (float& v : x.span<float>()) v = std::round(v * 2.f);
  ops::PoolResult r = ops::pool(ops::PoolKind::Max, x, {2}, {});
  Tensor dy = randomTensor(r.y.shape(), 2);
  Tensor dx = ops::poolBackward(ops::PoolKind::Max, dy, r.argmax, x.shape(), {2}, {});
  ops::ReferenceKernelsScope reference;
  ops::PoolResult ref = ops::pool(ops::PoolKind::Max, x, {2}, {});
  EXPECT_TENSORS_CLOSE(r.y, ref.y, 0.0);
  EXPECT_TENSORS_CLOSE(dx, ops::poolBackward(ops::PoolKind::Max, dy, ref.argmax, x.shape(), {2}, {}), 0.0);
}

}  // namespace
}  // namespace kaon
