// Synchronised batch norm ops: statistics and gradient sums of slices of a batch, summed as an
// allreduce would, give what batch norm over the whole batch gives (forward, running statistics,
// dx, dgamma, dbeta), on the CPU and reference backends; unsynchronised slices differ.
#include <gtest/gtest.h>

#include <optional>

#include "../support/replica_norm.hpp"
#include "../support/test_util.hpp"
#include "kaon/ops/reference_scope.hpp"

namespace kaon {
namespace {

using testing::randomTensor;

class SyncBatchNormOps : public ::testing::TestWithParam<std::tuple<Shape, bool>> {};

TEST_P(SyncBatchNormOps, SlicesSummedEqualTheWholeBatch) {
  auto [shape, reference] = GetParam();
  std::optional<ops::ReferenceKernelsScope> scope;
  if (reference) scope.emplace();
  const std::int64_t C = shape[1], N = shape[0];
  Tensor x = randomTensor(shape, 1, DType::Float32, -2.0, 3.0), dy = randomTensor(shape, 6);
  Tensor gamma = randomTensor(Shape{C}, 2, DType::Float32, 0.5, 1.5), beta = randomTensor(Shape{C}, 3);
  Tensor rm = randomTensor(Shape{C}, 4), rv = randomTensor(Shape{C}, 5, DType::Float32, 0.5, 2.0);

  Tensor wholeMean = rm.clone(), wholeVar = rv.clone();
  ops::BatchNormResult whole = ops::batchNorm(x, gamma, beta, wholeMean, wholeVar, true, 0.9, 1e-3);
  Tensor dgamma = Tensor::zeros(Shape{C}), dbeta = Tensor::zeros(Shape{C});
  Tensor dx = ops::batchNormBackward(true, x, dy, gamma, whole.saveMean, whole.saveInvStd, dgamma, dbeta, 0.0);

  // Unequal replicas (3 and N - 3 samples, and one of a single sample): counts are summed too.
  auto sync = testing::replicaBatchNorm(x, dy, gamma, beta, rm, rv, {0, 1, 3, N}, 0.9, 1e-3);
  EXPECT_TENSORS_CLOSE(sync.y, whole.y, 1e-5);
  EXPECT_TENSORS_CLOSE(sync.runningMean, wholeMean, 1e-5);
  EXPECT_TENSORS_CLOSE(sync.runningVar, wholeVar, 1e-5);
  EXPECT_TENSORS_CLOSE(sync.dx, dx, 1e-5);
  EXPECT_TENSORS_CLOSE(sync.dgamma, dgamma, 1e-5);
  EXPECT_TENSORS_CLOSE(sync.dbeta, dbeta, 1e-5);

  // The same slices normalised alone are a different computation (the test can fail).
  ops::BatchNormResult alone = ops::batchNorm(x.slice(3, N), gamma, beta, Tensor(), Tensor(), true, 0.9, 1e-3);
  EXPECT_FALSE(testing::tensorsClose(alone.y, whole.y.slice(3, N), 1e-3));
}

INSTANTIATE_TEST_SUITE_P(Shapes, SyncBatchNormOps,
                         ::testing::Combine(::testing::Values(Shape{8, 5}, Shape{6, 3, 9}, Shape{7, 4, 33, 32},
                                                              Shape{5, 3, 3, 4, 5}),
                                            ::testing::Bool()));

TEST(SyncBatchNormOps, StatisticsAreSumsAndCount) {
  Tensor x = Tensor::fromVector<float>(Shape{2, 2}, {1, -1, 3, 5});  // channel 0: {1, 3}; channel 1: {-1, 5}
  auto s = ops::batchNormStatistics(x).toVector<double>();
  EXPECT_EQ(s, (std::vector<double>{4, 4, 10, 26, 2}));
  EXPECT_THROW(ops::batchNormFromStatistics(x, Tensor(), Tensor(), Tensor(), Tensor(), Tensor::zeros(Shape{4}, DType::Float64),
                                            0.9, 1e-3),
               Error);  // wrong length: [2C + 1] expected
}

}  // namespace
}  // namespace kaon
