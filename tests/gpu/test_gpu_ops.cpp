// Every CUDA kernel against the CPU backend on random inputs (the geometries of tests/ops),
// and finite-difference gradient checks in double through the CUDA path.
#include <tuple>

#include "gpu_util.hpp"
#include "kaon/ops/activation.hpp"
#include "kaon/ops/conv.hpp"
#include "kaon/ops/elementwise.hpp"
#include "kaon/ops/linalg.hpp"
#include "kaon/ops/loss.hpp"
#include "kaon/ops/optimizer_steps.hpp"
#include "kaon/ops/pool.hpp"

namespace kaon {
namespace {

using namespace gputest;
using testing::randomTensor;

// ---- GEMM ----------------------------------------------------------------------------------
class GpuGemm : public ::testing::TestWithParam<std::tuple<bool, bool, DType>> {};

TEST_P(GpuGemm, MatchesCpu) {
  KAON_REQUIRE_GPU();
  auto [ta, tb, dt] = GetParam();
  for (auto [M, N, K] : {std::tuple<int, int, int>{7, 5, 3}, {65, 33, 17}, {1, 129, 64}}) {
    Tensor a = randomTensor(ta ? Shape{K, M} : Shape{M, K}, 1, dt);
    Tensor b = randomTensor(tb ? Shape{N, K} : Shape{K, N}, 2, dt);
    Tensor c = randomTensor(Shape{M, N}, 3, dt);
    Tensor cg = toGpu(c);
    ops::gemm(ta, tb, 0.7, toGpu(a), toGpu(b), 0.3, cg);
    ops::gemm(ta, tb, 0.7, a, b, 0.3, c);
    EXPECT_GPU_CLOSE(cg, c, dt == DType::Float64 ? 1e-12 : kTolF32) << M << "x" << N << "x" << K;
  }
}

INSTANTIATE_TEST_SUITE_P(Transposes, GpuGemm,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool(),
                                            ::testing::Values(DType::Float32, DType::Float64)));

TEST(GpuLinear, GradientsMatchFiniteDifferences) {
  KAON_REQUIRE_GPU();
  std::vector<Tensor> in{randomTensor(Shape{4, 6}, 1, DType::Float64), randomTensor(Shape{3, 6}, 2, DType::Float64),
                         randomTensor(Shape{3}, 3, DType::Float64)};
  double err = testing::maxGradientError(
      [&](const std::vector<Tensor>& v) { return toCpu(ops::linear(toGpu(v[0]), toGpu(v[1]), toGpu(v[2]))); },
      [&](const std::vector<Tensor>& v, const Tensor& dy) {
        Tensor dw = Tensor::zeros(v[1].shape(), DType::Float64, gpu()), db = Tensor::zeros(v[2].shape(), DType::Float64, gpu());
        Tensor dyg = toGpu(dy);
        ops::linearBackwardParams(toGpu(v[0]), dyg, dw, db, 0.0);
        return std::vector<Tensor>{toCpu(ops::linearBackwardData(dyg, toGpu(v[1]))), toCpu(dw), toCpu(db)};
      },
      in);
  EXPECT_LT(err, 1e-6);
}

// ---- convolution ---------------------------------------------------------------------------
struct ConvCase {
  const char* label;
  Shape x, w;
  ops::ConvParams p;
};

std::vector<ConvCase> convCases() {
  return {
      {"1d_basic", {2, 3, 11}, {4, 3, 3}, {}},
      {"2d_basic", {2, 3, 7, 9}, {5, 3, 3, 3}, {}},
      {"2d_stride2_pad", {3, 2, 9, 8}, {4, 2, 3, 3}, {{2}, {}, {1}, {1}}},
      {"2d_asym_kernel_pad", {2, 3, 8, 7}, {2, 3, 2, 5}, {{1, 2}, {}, {0, 2}, {1, 1}}},
      {"2d_even_same", {2, 2, 6, 6}, {3, 2, 4, 4},
       ops::samePadding(std::vector<std::int64_t>{6, 6}, std::vector<std::int64_t>{4, 4}, {1})},
      {"2d_dilation", {1, 2, 9, 9}, {3, 2, 3, 3}, {{1}, {2}, {2}, {2}}},
      {"2d_pointwise", {3, 4, 5, 5}, {6, 4, 1, 1}, {}},
      {"3d_odd_kernel", {2, 2, 7, 7, 9}, {3, 2, 6, 5, 8}, {{1}, {}, {2, 2, 3}, {3, 2, 4}}},
      {"3d_stride", {1, 3, 6, 7, 5}, {2, 3, 3, 3, 2}, {{2, 1, 2}, {}, {1}, {0}}},
      {"2d_larger", {8, 16, 32, 32}, {32, 16, 3, 3}, {{1}, {}, {1}, {1}}},
  };
}

class GpuConv : public ::testing::TestWithParam<int> {};

TEST_P(GpuConv, MatchesCpu) {
  KAON_REQUIRE_GPU();
  ConvCase c = convCases()[GetParam()];
  SCOPED_TRACE(c.label);
  Tensor x = randomTensor(c.x, 1), w = randomTensor(c.w, 2), b = randomTensor(Shape{c.w[0]}, 3);
  Tensor y = ops::conv(x, w, b, c.p);
  Tensor dy = randomTensor(y.shape(), 4);
  Tensor dx = ops::convBackwardData(dy, w, x.shape(), c.p);
  Tensor dw = randomTensor(w.shape(), 5), db = randomTensor(b.shape(), 6);
  Tensor dwG = toGpu(dw), dbG = toGpu(db);
  ops::convBackwardParams(x, dy, dw, db, 0.5, c.p);  // beta = 0.5 exercises accumulation

  Tensor xG = toGpu(x), wG = toGpu(w), dyG = toGpu(dy);
  EXPECT_GPU_CLOSE(ops::conv(xG, wG, toGpu(b), c.p), y, kTolF32);
  EXPECT_GPU_CLOSE(ops::convBackwardData(dyG, wG, x.shape(), c.p), dx, kTolF32);
  ops::convBackwardParams(xG, dyG, dwG, dbG, 0.5, c.p);
  EXPECT_GPU_CLOSE(dwG, dw, kTolF32);
  EXPECT_GPU_CLOSE(dbG, db, kTolF32);
}

TEST_P(GpuConv, GradientsMatchFiniteDifferencesInDouble) {
  KAON_REQUIRE_GPU();
  ConvCase c = convCases()[GetParam()];
  if (c.x.numel() > 10000) GTEST_SKIP() << "finite differences too slow for this size";
  SCOPED_TRACE(c.label);
  std::vector<Tensor> in{randomTensor(c.x, 1, DType::Float64), randomTensor(c.w, 2, DType::Float64),
                         randomTensor(Shape{c.w[0]}, 3, DType::Float64)};
  double err = testing::maxGradientError(
      [&](const std::vector<Tensor>& v) { return toCpu(ops::conv(toGpu(v[0]), toGpu(v[1]), toGpu(v[2]), c.p)); },
      [&](const std::vector<Tensor>& v, const Tensor& dy) {
        Tensor dw = Tensor::zeros(v[1].shape(), DType::Float64, gpu());
        Tensor db = Tensor::zeros(v[2].shape(), DType::Float64, gpu());
        Tensor dyG = toGpu(dy);
        ops::convBackwardParams(toGpu(v[0]), dyG, dw, db, 0.0, c.p);
        return std::vector<Tensor>{toCpu(ops::convBackwardData(dyG, toGpu(v[1]), v[0].shape(), c.p)), toCpu(dw),
                                   toCpu(db)};
      },
      in);
  EXPECT_LT(err, 2e-6);
}

INSTANTIATE_TEST_SUITE_P(Geometries, GpuConv, ::testing::Range(0, static_cast<int>(convCases().size())));

TEST(GpuConvTranspose, MatchesCpu) {
  KAON_REQUIRE_GPU();
  ops::ConvParams p{{2}, {}, {1}, {1}};
  Tensor x = randomTensor(Shape{2, 3, 5, 6}, 1), w = randomTensor(Shape{3, 4, 3, 3}, 2), b = randomTensor(Shape{4}, 3);
  Tensor y = ops::convTranspose(x, w, b, p, {1});
  EXPECT_GPU_CLOSE(ops::convTranspose(toGpu(x), toGpu(w), toGpu(b), p, {1}), y, kTolF32);
}

// ---- pooling -------------------------------------------------------------------------------
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
      {"2d_2x2_wide", {3, 5, 16, 30}, {2}, {}, false},
      {"2d_3x3_s2_pad", {2, 2, 9, 7}, {3}, {{2}, {}, {1}, {1}}, false},
      {"2d_3x3_s2_pad_incl", {2, 2, 9, 7}, {3}, {{2}, {}, {1}, {1}}, true},
      {"2d_odd_floor", {1, 2, 7, 5}, {2, 3}, {}, false},
      {"2d_overlap_s1", {2, 2, 6, 6}, {3}, {{1}, {}, {}, {}}, false},
      {"1d", {2, 3, 10}, {3}, {{1}, {}, {1}, {1}}, false},
      {"3d_2x2x2", {2, 2, 6, 4, 6}, {2}, {}, false},
      {"3d_asym", {1, 2, 5, 7, 6}, {3, 2, 2}, {{1, 2, 2}, {}, {1, 0, 0}, {1, 1, 0}}, false},
      {"2d_large", {8, 16, 64, 66}, {3}, {{2}, {}, {1}, {0}}, false},
  };
}

class GpuPool : public ::testing::TestWithParam<std::tuple<int, ops::PoolKind>> {};

TEST_P(GpuPool, MatchesCpuIncludingArgmax) {
  KAON_REQUIRE_GPU();
  auto [i, kind] = GetParam();
  PoolCase c = poolCases()[i];
  SCOPED_TRACE(c.label);
  Tensor x = randomTensor(c.x, 1);
  ops::PoolResult r = ops::pool(kind, x, c.window, c.p, c.includePad);
  Tensor dy = randomTensor(r.y.shape(), 2);
  Tensor dx = ops::poolBackward(kind, dy, r.argmax, x.shape(), c.window, c.p, c.includePad);
  ops::PoolResult g = ops::pool(kind, toGpu(x), c.window, c.p, c.includePad);
  EXPECT_GPU_CLOSE(g.y, r.y, 1e-6);
  if (kind == ops::PoolKind::Max) {
    EXPECT_EQ(toCpu(g.argmax).toVector<std::int32_t>(), r.argmax.toVector<std::int32_t>());
  }
  EXPECT_GPU_CLOSE(ops::poolBackward(kind, toGpu(dy), g.argmax, x.shape(), c.window, c.p, c.includePad), dx, 1e-6);
}

// The 2x2 / stride-2 kernels (cuda_pool_2x2.cuh) on windows with ties: the first maximum in
// row-major order wins, as on the CPU, so argmax and the routed gradient agree exactly.
TEST(GpuPool2x2, TiesPickTheFirstMaximumAsOnTheCpu) {
  KAON_REQUIRE_GPU();
  Tensor x = randomTensor(Shape{2, 3, 6, 8}, 7);
  std::vector<float> v = x.toVector<float>();
  for (float& e : v) e = e > 0 ? 1.f : 0.f;  // two values only: most windows tie
  x = Tensor::fromVector(x.shape(), v);
  ops::PoolResult r = ops::pool(ops::PoolKind::Max, x, {2}, {});
  ops::PoolResult g = ops::pool(ops::PoolKind::Max, toGpu(x), {2}, {});
  EXPECT_EQ(toCpu(g.argmax).toVector<std::int32_t>(), r.argmax.toVector<std::int32_t>());
  Tensor dy = randomTensor(r.y.shape(), 8);
  EXPECT_GPU_CLOSE(ops::poolBackward(ops::PoolKind::Max, toGpu(dy), g.argmax, x.shape(), {2}, {}),
                   ops::poolBackward(ops::PoolKind::Max, dy, r.argmax, x.shape(), {2}, {}), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Geometries, GpuPool,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(poolCases().size())),
                                            ::testing::Values(ops::PoolKind::Max, ops::PoolKind::Average)));

// ---- element-wise, bias, softmax, reductions ------------------------------------------------
class GpuActivation : public ::testing::TestWithParam<ops::Activation> {};

TEST_P(GpuActivation, ForwardAndBackwardMatchCpu) {
  KAON_REQUIRE_GPU();
  ops::Activation kind = GetParam();
  for (auto [dt, shape] : {std::pair{DType::Float32, Shape{3, 5, 7}}, std::pair{DType::Float32, Shape{4, 8, 16}},
                           std::pair{DType::Float64, Shape{3, 5, 7}}}) {
    Tensor x = randomTensor(shape, 1, dt, -3, 3), dy = randomTensor(x.shape(), 2, dt);
    Tensor y = ops::activation(kind, x, 0.2);
    Tensor dx = ops::activationBackward(kind, x, y, dy, 0.2);
    Tensor yG = ops::activation(kind, toGpu(x), 0.2);
    double tol = dt == DType::Float64 ? 1e-12 : 1e-6;
    EXPECT_GPU_CLOSE(yG, y, tol);
    EXPECT_GPU_CLOSE(ops::activationBackward(kind, toGpu(x), yG, toGpu(dy), 0.2), dx, tol);
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, GpuActivation,
                         ::testing::Values(ops::Activation::Identity, ops::Activation::Relu, ops::Activation::LeakyRelu,
                                           ops::Activation::Sigmoid, ops::Activation::Tanh, ops::Activation::Elu));

TEST(GpuPointwise, SoftmaxMatchesCpu) {
  KAON_REQUIRE_GPU();
  for (Shape s : {Shape{4, 10}, Shape{3, 5, 7}, Shape{2, 300}, Shape{64, 1000}}) {
    Tensor x = randomTensor(s, 1, DType::Float32, -5, 5), dy = randomTensor(s, 2);
    Tensor y = ops::softmax(x);
    Tensor yG = ops::softmax(toGpu(x));
    EXPECT_GPU_CLOSE(yG, y, 1e-6);
    EXPECT_GPU_CLOSE(ops::softmaxBackward(yG, toGpu(dy)), ops::softmaxBackward(y, dy), 1e-5);
  }
}

TEST(GpuPointwise, ArithmeticBiasAndReductionsMatchCpu) {
  KAON_REQUIRE_GPU();
  Tensor a = randomTensor(Shape{3, 4, 5, 6}, 1), b = randomTensor(a.shape(), 2);
  Tensor aG = toGpu(a), bG = toGpu(b);
  EXPECT_GPU_CLOSE(ops::mul(aG, bG), ops::mul(a, b), 1e-7);
  Tensor out = randomTensor(a.shape(), 3), outG = toGpu(out);
  ops::axpby(0.3, a, -1.7, b, out);
  ops::axpby(0.3, aG, -1.7, bG, outG);
  EXPECT_GPU_CLOSE(outG, out, 1e-7);
  ops::axpby(2.0, aG, 0.5, outG, outG);  // aliasing output
  ops::axpby(2.0, a, 0.5, out, out);
  EXPECT_GPU_CLOSE(outG, out, 1e-7);
  Tensor big = randomTensor(Shape{1 << 20}, 4);
  EXPECT_NEAR(ops::sum(toGpu(big)), ops::sum(big), 1e-6 * big.numel());
  EXPECT_NEAR(ops::sumSquares(toGpu(big)), ops::sumSquares(big), 1e-9 * ops::sumSquares(big) + 1e-3);
  EXPECT_NEAR(ops::sum(toGpu(a)), ops::sum(a), 1e-4);

  Tensor bias = randomTensor(Shape{4}, 5);
  // inner 30: scalar path; inner 8: 128-bit path; inner 12 at a 4-byte offset: scalar by alignment.
  Tensor base = randomTensor(Shape{97}, 7), baseG = toGpu(base);
  std::vector<std::pair<Tensor, Tensor>> cases{{a.reshape(Shape{3, 4, 30}), toGpu(a).reshape(Shape{3, 4, 30})},
                                               {randomTensor(Shape{2, 4, 8}, 8), Tensor()},
                                               {base.slice(1, 97).reshape(Shape{2, 4, 12}),
                                                baseG.slice(1, 97).reshape(Shape{2, 4, 12})}};
  for (auto& [t, tG] : cases) {
    Tensor y = t.clone(), yG = tG.defined() ? tG : toGpu(t);
    ops::biasAdd(y, bias);
    ops::biasAdd(yG, toGpu(bias));
    EXPECT_GPU_CLOSE(yG, y, 1e-7);
  }
  // A misaligned FP32 view of 96 elements takes the scalar activation path. (Fresh data: the
  // loop above biased baseG in place through its view, but only a clone of base.)
  Tensor fresh = randomTensor(Shape{97}, 10), freshG = toGpu(fresh);
  EXPECT_GPU_CLOSE(ops::activation(ops::Activation::Relu, freshG.slice(1, 97)),
                   ops::activation(ops::Activation::Relu, fresh.slice(1, 97)), 0.0);
  Tensor db = randomTensor(Shape{4}, 6), dbG = toGpu(db);
  ops::biasBackward(a, db, 0.5);
  ops::biasBackward(aG, dbG, 0.5);
  EXPECT_GPU_CLOSE(dbG, db, kTolF32);
}

// ---- losses --------------------------------------------------------------------------------
class GpuLoss : public ::testing::TestWithParam<ops::LossKind> {};

TEST_P(GpuLoss, ValuesAndGradientsMatchCpu) {
  KAON_REQUIRE_GPU();
  ops::LossKind kind = GetParam();
  const std::int64_t N = 9, C = 5;
  Tensor pred = randomTensor(Shape{N, C}, 1, DType::Float32, -2, 2);
  Tensor target = kind == ops::LossKind::SoftmaxCrossEntropy ? Tensor::empty(Shape{N})
                  : kind == ops::LossKind::BinaryCrossEntropyLogits ? randomTensor(Shape{N, C}, 2, DType::Float32, 0, 1)
                                                                    : randomTensor(Shape{N, C}, 2);
  if (kind == ops::LossKind::SoftmaxCrossEntropy)
    for (std::int64_t n = 0; n < N; ++n) target.span<float>()[n] = static_cast<float>((n * 3) % C);
  Tensor weight = randomTensor(Shape{N}, 3, DType::Float32, 0.5, 2);
  for (bool weighted : {false, true}) {
    Tensor w = weighted ? weight : Tensor();
    ops::LossResult r = ops::loss(kind, pred, target, w);
    ops::LossResult g = ops::loss(kind, toGpu(pred), toGpu(target), toGpu(w));
    EXPECT_NEAR(g.value, r.value, 1e-5 * std::max(1.0, std::abs(r.value)));
    EXPECT_GPU_CLOSE(g.perSample, r.perSample, kTolF32);
    EXPECT_GPU_CLOSE(g.grad, r.grad, kTolF32);
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, GpuLoss,
                         ::testing::Values(ops::LossKind::SoftmaxCrossEntropy, ops::LossKind::BinaryCrossEntropyLogits,
                                           ops::LossKind::MeanSquaredError, ops::LossKind::MeanAbsoluteError,
                                           ops::LossKind::MeanAbsolutePercentageError));

// ---- fused optimizer steps -----------------------------------------------------------------
TEST(GpuOptimizerSteps, MatchCpu) {
  KAON_REQUIRE_GPU();
  const Shape s{1001};
  auto run = [&](auto&& step, int nState) {
    Tensor p = randomTensor(s, 1), g = randomTensor(s, 2);
    std::vector<Tensor> st, stG;
    for (int i = 0; i < nState; ++i) st.push_back(randomTensor(s, 10 + i, DType::Float32, 0, 1));
    for (auto& t : st) stG.push_back(toGpu(t));
    Tensor pG = toGpu(p), gG = toGpu(g);
    for (int k = 0; k < 3; ++k) {
      step(p, g, st);
      step(pG, gG, stG);
    }
    EXPECT_GPU_CLOSE(pG, p, 1e-6);
    for (int i = 0; i < nState; ++i) EXPECT_GPU_CLOSE(stG[i], st[i], 1e-6);
  };
  for (bool nesterov : {false, true})
    run([&](auto& p, auto& g, auto& st) { ops::sgdStep({0.1, 0.9, 0.01, nesterov}, p, g, st[0]); }, 1);
  run([&](auto& p, auto& g, auto&) { ops::sgdStep({0.1, 0.0, 0.0, false}, p, g, Tensor()); }, 0);
  for (bool decoupled : {false, true})
    run([&](auto& p, auto& g, auto& st) {
      ops::adamStep({1e-2, 0.9, 0.999, 1e-7, 0.01, decoupled, 3}, p, g, st[0], st[1]);
    }, 2);
  run([&](auto& p, auto& g, auto& st) { ops::rmspropStep({1e-2, 0.9, 1e-7, 0.5, 0.01}, p, g, st[0], st[1]); }, 2);
}

TEST(GpuBackend, MissingKernelsFailLoudly) {
  KAON_REQUIRE_GPU();
  Tensor x = Tensor::zeros(Shape{2, 3}, DType::Int32, gpu());
  EXPECT_THROW(ops::activation(ops::Activation::Relu, x), Error);
}

}  // namespace
}  // namespace kaon
