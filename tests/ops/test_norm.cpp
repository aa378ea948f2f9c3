// Batch normalisation: CPU vs reference parity (training and eval, forward, running statistics,
// backward with accumulation), finite-difference gradients (double) of x, gamma and beta in both
// modes, the statistics of the output, and hand-computed running-statistic and eval cases.
#include <gtest/gtest.h>

#include <cmath>

#include "../support/test_util.hpp"
#include "kaon/core/runtime.hpp"
#include "kaon/ops/norm.hpp"
#include "kaon/ops/reference_scope.hpp"

namespace kaon {
namespace {

using testing::randomTensor;

struct BnRun {
  ops::BatchNormResult fwd;
  Tensor runningMean, runningVar, dx, dgamma, dbeta;
};

// One forward + backward from fixed inputs; dgamma/dbeta start random and accumulate (beta 0.5).
BnRun runBatchNorm(const Shape& shape, bool training, bool affine) {
  std::int64_t C = shape[1];
  Tensor x = randomTensor(shape, 1, DType::Float32, -2.0, 3.0);
  Tensor gamma = affine ? randomTensor(Shape{C}, 2, DType::Float32, 0.5, 1.5) : Tensor();
  Tensor beta = affine ? randomTensor(Shape{C}, 3) : Tensor();
  BnRun r;
  r.runningMean = randomTensor(Shape{C}, 4);
  r.runningVar = randomTensor(Shape{C}, 5, DType::Float32, 0.5, 2.0);
  r.fwd = ops::batchNorm(x, gamma, beta, r.runningMean, r.runningVar, training, 0.9, 1e-3);
  Tensor dy = randomTensor(shape, 6);
  r.dgamma = randomTensor(Shape{C}, 7);
  r.dbeta = randomTensor(Shape{C}, 8);
  r.dx = ops::batchNormBackward(training, x, dy, gamma, r.fwd.saveMean, r.fwd.saveInvStd, r.dgamma, r.dbeta, 0.5);
  return r;
}

class BatchNormParity : public ::testing::TestWithParam<std::tuple<Shape, bool, bool>> {};

TEST_P(BatchNormParity, CpuMatchesReference) {
  auto [shape, training, affine] = GetParam();
  BnRun cpu = runBatchNorm(shape, training, affine);
  ops::ReferenceKernelsScope reference;
  BnRun ref = runBatchNorm(shape, training, affine);
  EXPECT_TENSORS_CLOSE(cpu.fwd.y, ref.fwd.y, 1e-5);
  EXPECT_TENSORS_CLOSE(cpu.fwd.saveMean, ref.fwd.saveMean, 1e-5);
  EXPECT_TENSORS_CLOSE(cpu.fwd.saveInvStd, ref.fwd.saveInvStd, 1e-5);
  EXPECT_TENSORS_CLOSE(cpu.runningMean, ref.runningMean, 1e-5);
  EXPECT_TENSORS_CLOSE(cpu.runningVar, ref.runningVar, 1e-5);
  EXPECT_TENSORS_CLOSE(cpu.dx, ref.dx, 1e-5);
  EXPECT_TENSORS_CLOSE(cpu.dgamma, ref.dgamma, 1e-5);
  EXPECT_TENSORS_CLOSE(cpu.dbeta, ref.dbeta, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, BatchNormParity,
                         ::testing::Combine(::testing::Values(Shape{7, 5}, Shape{4, 3, 9}, Shape{3, 4, 5, 7},
                                                              Shape{2, 3, 3, 4, 5}, Shape{8, 4, 33, 32}),
                                            ::testing::Bool(), ::testing::Bool()));

// The CPU kernels sum per-thread partials; odd thread counts (oversubscribed here if need be)
// must give the reference result too.
TEST(BatchNorm, CpuMatchesReferenceForAnyThreadCount) {
  Shape shape{8, 5, 33, 31};  // > the parallel threshold
  BnRun ref;
  {
    ops::ReferenceKernelsScope reference;
    ref = runBatchNorm(shape, true, true);
  }
  for (int threads : {1, 3, 7}) {
    setNumThreads(threads);
    BnRun cpu = runBatchNorm(shape, true, true);
    EXPECT_TENSORS_CLOSE(cpu.fwd.y, ref.fwd.y, 1e-5) << threads << " threads";
    EXPECT_TENSORS_CLOSE(cpu.runningVar, ref.runningVar, 1e-5) << threads << " threads";
    EXPECT_TENSORS_CLOSE(cpu.dx, ref.dx, 1e-5) << threads << " threads";
    EXPECT_TENSORS_CLOSE(cpu.dgamma, ref.dgamma, 1e-5) << threads << " threads";
  }
  setNumThreads(0);  // back to the default
}

class BatchNormGradients : public ::testing::TestWithParam<std::tuple<Shape, bool>> {};

TEST_P(BatchNormGradients, MatchFiniteDifferences) {
  auto [shape, training] = GetParam();
  std::int64_t C = shape[1];
  Tensor runningMean = randomTensor(Shape{C}, 4, DType::Float64);
  Tensor runningVar = randomTensor(Shape{C}, 5, DType::Float64, 0.5, 2.0);
  std::vector<Tensor> in{randomTensor(shape, 1, DType::Float64), randomTensor(Shape{C}, 2, DType::Float64, 0.5, 1.5),
                         randomTensor(Shape{C}, 3, DType::Float64)};
  // Running statistics are updated by every training forward but do not affect its output.
  auto forward = [&](const std::vector<Tensor>& v) {
    return ops::batchNorm(v[0], v[1], v[2], runningMean, runningVar, training, 0.9, 1e-3);
  };
  double err = testing::maxGradientError(
      [&](const std::vector<Tensor>& v) { return forward(v).y; },
      [&](const std::vector<Tensor>& v, const Tensor& dy) {
        ops::BatchNormResult r = forward(v);
        Tensor dgamma = Tensor::zeros(Shape{C}, DType::Float64), dbeta = Tensor::zeros(Shape{C}, DType::Float64);
        Tensor dx = ops::batchNormBackward(training, v[0], dy, v[1], r.saveMean, r.saveInvStd, dgamma, dbeta, 0.0);
        return std::vector<Tensor>{dx, dgamma, dbeta};
      },
      in);
  EXPECT_LT(err, 1e-7);
}

INSTANTIATE_TEST_SUITE_P(Shapes, BatchNormGradients,
                         ::testing::Combine(::testing::Values(Shape{6, 3}, Shape{3, 2, 5}, Shape{2, 3, 3, 4},
                                                              Shape{2, 2, 2, 3, 2}),
                                            ::testing::Bool()));

TEST(BatchNorm, TrainingOutputIsNormalisedPerChannel) {
  const double eps = 1e-3;
  Tensor x = randomTensor(Shape{6, 3, 5, 4}, 1, DType::Float64, -3.0, 7.0);
  Tensor gamma = Tensor::fromVector<double>(Shape{3}, {1.0, 2.0, 0.5});
  Tensor beta = Tensor::fromVector<double>(Shape{3}, {0.0, -1.0, 3.0});
  for (bool cpu : {true, false}) {
    std::optional<ops::ReferenceKernelsScope> reference;
    if (!cpu) reference.emplace();
    Tensor y = ops::batchNorm(x, gamma, beta, Tensor(), Tensor(), true, 0.9, eps).y;
    auto X = x.span<double>(), Y = y.span<double>();
    for (std::int64_t c = 0; c < 3; ++c) {
      double sx = 0, sxx = 0, sy = 0, syy = 0, m = 6 * 20;
      for (std::int64_t n = 0; n < 6; ++n)
        for (std::int64_t i = 0; i < 20; ++i) {
          std::int64_t k = (n * 3 + c) * 20 + i;
          sx += X[k], sxx += X[k] * X[k], sy += Y[k], syy += Y[k] * Y[k];
        }
      double varX = sxx / m - (sx / m) * (sx / m);
      double meanY = sy / m, varY = syy / m - meanY * meanY;
      double g = gamma.span<double>()[c], b = beta.span<double>()[c];
      EXPECT_NEAR(meanY, b, 1e-12) << "channel " << c << (cpu ? " cpu" : " reference");
      EXPECT_NEAR(varY, g * g * varX / (varX + eps), 1e-10) << "channel " << c;  // var 1 up to eps
    }
  }
}

TEST(BatchNorm, RunningStatisticsHandComputed) {
  // [N=2, C=2]: channel 0 = {1, 3} (mean 2, unbiased var 2), channel 1 = {-1, 5} (mean 2, var 18).
  for (bool cpu : {true, false}) {
    std::optional<ops::ReferenceKernelsScope> reference;
    if (!cpu) reference.emplace();
    Tensor x = Tensor::fromVector<float>(Shape{2, 2}, {1, -1, 3, 5});
    Tensor rm = Tensor::fromVector<float>(Shape{2}, {0.5f, -1.0f});
    Tensor rv = Tensor::fromVector<float>(Shape{2}, {1.0f, 2.0f});
    ops::BatchNormResult r = ops::batchNorm(x, Tensor(), Tensor(), rm, rv, true, 0.9, 1e-3);
    EXPECT_NEAR(rm.item(0), 0.9 * 0.5 + 0.1 * 2, 1e-6);
    EXPECT_NEAR(rm.item(1), 0.9 * -1 + 0.1 * 2, 1e-6);
    EXPECT_NEAR(rv.item(0), 0.9 * 1 + 0.1 * 2, 1e-6);
    EXPECT_NEAR(rv.item(1), 0.9 * 2 + 0.1 * 18, 1e-6);
    EXPECT_NEAR(r.saveMean.item(1), 2.0, 1e-6);
    EXPECT_NEAR(r.saveInvStd.item(1), 1.0 / std::sqrt(9.0 + 1e-3), 1e-6);  // biased variance normalises
    EXPECT_NEAR(r.y.item(0), -1.0 / std::sqrt(1.0 + 1e-3), 1e-6);
  }
}

TEST(BatchNorm, EvalUsesRunningStatisticsHandComputed) {
  // Running var + eps = 4 and 0.25 -> inverse std 0.5 and 2.
  for (bool cpu : {true, false}) {
    std::optional<ops::ReferenceKernelsScope> reference;
    if (!cpu) reference.emplace();
    Tensor x = Tensor::fromVector<double>(Shape{1, 2, 2}, {3, -1, -1.5, -2});
    Tensor rm = Tensor::fromVector<double>(Shape{2}, {1, -2});
    Tensor rv = Tensor::fromVector<double>(Shape{2}, {3.999, 0.249});
    Tensor gamma = Tensor::fromVector<double>(Shape{2}, {2, 1});
    Tensor beta = Tensor::fromVector<double>(Shape{2}, {0.5, 0});
    ops::BatchNormResult r = ops::batchNorm(x, gamma, beta, rm, rv, false, 0.9, 1e-3);
    std::vector<double> y = r.y.toVector<double>(), expected{2.5, -1.5, 1.0, 0.0};
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(y[i], expected[i], 1e-12) << i;
    EXPECT_EQ(rm.toVector<double>(), (std::vector<double>{1, -2}));  // untouched in eval
    EXPECT_EQ(rv.toVector<double>(), (std::vector<double>{3.999, 0.249}));
    // Eval backward: dx = gamma * invstd * dy.
    Tensor dy = Tensor::full(Shape{1, 2, 2}, 1.0, DType::Float64);
    Tensor dx = ops::batchNormBackward(false, x, dy, gamma, r.saveMean, r.saveInvStd, Tensor(), Tensor(), 0.0);
    std::vector<double> d = dx.toVector<double>(), expectedDx{1, 1, 2, 2};
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(d[i], expectedDx[i], 1e-12) << i;
  }
}

TEST(BatchNorm, RejectsBadArguments) {
  Tensor x = randomTensor(Shape{4, 3, 2}, 1);
  Tensor c3 = Tensor::zeros(Shape{3}), c2 = Tensor::zeros(Shape{2});
  EXPECT_THROW(ops::batchNorm(x, Tensor(), Tensor(), Tensor(), Tensor(), false, 0.9, 1e-3), Error);  // eval needs stats
  EXPECT_THROW(ops::batchNorm(x, c2, Tensor(), Tensor(), Tensor(), true, 0.9, 1e-3), Error);          // gamma [2]
  EXPECT_THROW(ops::batchNorm(x, Tensor(), Tensor(), c3, Tensor(), true, 0.9, 1e-3), Error);          // one stat
  EXPECT_THROW(ops::batchNorm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 1.5, 1e-3), Error);    // momentum
  EXPECT_THROW(ops::batchNorm(randomTensor(Shape{4}, 1), Tensor(), Tensor(), Tensor(), Tensor(), true, 0.9, 1e-3),
               Error);
}

}  // namespace
}  // namespace kaon
