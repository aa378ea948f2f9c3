// Upsampling, concat/split copies and batch norm on CUDA. Their CPU kernels land on another
// branch, so these tests use host loops written from the kernel_table.hpp contracts (and are
// to be switched to CPU parity when those kernels are merged). They call the CUDA kernel table
// directly: the public ops for these entries do not exist yet.
#include <array>
#include <cmath>

#include "../../src/ops/kernel_table.hpp"
#include "../support/replica_norm.hpp"
#include "kaon/ops/reduce.hpp"
#include "gpu_util.hpp"

namespace kaon {
namespace {

using namespace gputest;
using testing::randomTensor;

const ops::KernelTable& cudaTable() { return ops::kernelTable(ops::Backend::Cuda); }

TEST(GpuLayout, UpsampleForwardAndBackward) {
  KAON_REQUIRE_GPU();
  for (auto [shape, f] : {std::pair<Shape, std::array<int, 3>>{Shape{2, 3, 4, 5}, {1, 2, 3}},
                          {Shape{1, 2, 3, 2, 4}, {2, 1, 2}}}) {
    const bool is3d = shape.rank() == 5;
    const std::int64_t D = is3d ? shape[2] : 1, H = shape[-2], W = shape[-1], P = shape[0] * shape[1];
    Shape outShape = shape;
    if (is3d) outShape[2] *= f[0];
    outShape[-2] *= f[1];
    outShape[-1] *= f[2];
    Tensor x = randomTensor(shape, 1), dy = randomTensor(outShape, 2), dx0 = randomTensor(shape, 3);
    // Host reference: y[p, z, y, x] = x[p, z/fz, y/fy, x/fx]; dx = 0.5*dx0 + block sums of dy.
    Tensor y = Tensor::empty(outShape), dx = dx0.clone();
    const float* X = x.data<float>();
    const float* DY = dy.data<float>();
    float* Y = y.data<float>();
    float* DX = dx.data<float>();
    for (std::int64_t i = 0; i < dx.numel(); ++i) DX[i] *= 0.5f;
    const std::int64_t OD = D * f[0], OH = H * f[1], OW = W * f[2];
    for (std::int64_t p = 0; p < P; ++p)
      for (std::int64_t z = 0; z < OD; ++z)
        for (std::int64_t r = 0; r < OH; ++r)
          for (std::int64_t c = 0; c < OW; ++c) {
            std::int64_t o = ((p * OD + z) * OH + r) * OW + c;
            std::int64_t i = ((p * D + z / f[0]) * H + r / f[1]) * W + c / f[2];
            Y[o] = X[i];
            DX[i] += DY[o];
          }
    Tensor yG = Tensor::empty(outShape, DType::Float32, gpu()), dxG = toGpu(dx0);
    cudaTable().upsampleForward(toGpu(x), yG, f);
    cudaTable().upsampleBackward(toGpu(dy), dxG, 0.5, f);
    EXPECT_GPU_CLOSE(yG, y, 0.0);
    EXPECT_GPU_CLOSE(dxG, dx, 1e-6);
  }
}

TEST(GpuLayout, SumOverAxesMatchesCpu) {
  KAON_REQUIRE_GPU();
  // The ECAL sum of 3DGAN showers ([N, 1, 25, 25, 25] over axes 1..4) and a middle-axis sum.
  for (auto [shape, first, last] : {std::tuple<Shape, int, int>{Shape{3, 1, 25, 25, 25}, 1, 4}, {Shape{2, 5, 7}, 1, 1}}) {
    Tensor x = randomTensor(shape, 1);
    Tensor y = ops::sumAxes(x, first, last);
    EXPECT_GPU_CLOSE(ops::sumAxes(toGpu(x), first, last), y, kTolF32);
    Tensor dy = randomTensor(y.shape(), 2);
    EXPECT_GPU_CLOSE(ops::sumAxesBackward(toGpu(dy), shape, first, last), ops::sumAxesBackward(dy, shape, first, last),
                     0.0);
  }
}

TEST(GpuLayout, ConcatAndSplitAlongAnAxis) {
  KAON_REQUIRE_GPU();
  // [2, 3, 4] into [2, 7, 4] at offset 2 along axis 1, then back out with beta.
  Tensor src = randomTensor(Shape{2, 3, 4}, 1), dst = randomTensor(Shape{2, 7, 4}, 2);
  Tensor dstG = toGpu(dst);
  cudaTable().copyIntoAxis(toGpu(src), dstG, 1, 2);
  Tensor back = toCpu(dstG);
  for (int o = 0; o < 2; ++o)
    for (int a = 0; a < 7; ++a)
      for (int i = 0; i < 4; ++i) {
        float expect = a >= 2 && a < 5 ? src.data<float>()[(o * 3 + a - 2) * 4 + i] : dst.data<float>()[(o * 7 + a) * 4 + i];
        ASSERT_EQ(back.data<float>()[(o * 7 + a) * 4 + i], expect) << o << "," << a << "," << i;
      }
  Tensor part = randomTensor(Shape{2, 3, 4}, 3), partG = toGpu(part);
  cudaTable().copyFromAxis(dstG, partG, 1, 2, 2.0);
  Tensor expect = part.clone();
  for (std::int64_t k = 0; k < expect.numel(); ++k) expect.data<float>()[k] = 2.0f * part.data<float>()[k] + src.data<float>()[k];
  EXPECT_GPU_CLOSE(partG, expect, 1e-7);
}

// Training forward and backward (accumulating dgamma/dbeta) of x [N, C, S] against the formulas
// in double, then inference.
void checkBatchNormAgainstFormulas(std::int64_t N, std::int64_t C, std::int64_t S) {
  const double momentum = 0.9, eps = 1e-3;
  Tensor x = randomTensor(Shape{N, C, S}, 1, DType::Float64, -2, 3), dy = randomTensor(x.shape(), 2, DType::Float64);
  Tensor gamma = randomTensor(Shape{C}, 3, DType::Float64, 0.5, 1.5), beta = randomTensor(Shape{C}, 4, DType::Float64);
  Tensor rm = randomTensor(Shape{C}, 5, DType::Float64), rv = randomTensor(Shape{C}, 6, DType::Float64, 0.5, 1);
  Tensor dg0 = randomTensor(Shape{C}, 7, DType::Float64), db0 = randomTensor(Shape{C}, 8, DType::Float64);
  Tensor xG = toGpu(x), yG = Tensor::empty(x.shape(), DType::Float64, gpu()), rmG = toGpu(rm), rvG = toGpu(rv);
  Tensor smG = Tensor::empty(Shape{C}, DType::Float64, gpu()), siG = Tensor::empty(Shape{C}, DType::Float64, gpu());
  cudaTable().batchNormForward(true, momentum, eps, xG, toGpu(gamma), toGpu(beta), rmG, rvG, yG, smG, siG);
  Tensor dxG = Tensor::empty(x.shape(), DType::Float64, gpu()), dgG = toGpu(dg0), dbG = toGpu(db0);
  cudaTable().batchNormBackward(true, xG, toGpu(dy), toGpu(gamma), smG, siG, dxG, dgG, dbG, 1.0);
  Tensor y = toCpu(yG), dx = toCpu(dxG);
  const double M = N * S;
  for (std::int64_t c = 0; c < C; ++c) {
    auto X = [&](std::int64_t n, std::int64_t s) { return x.data<double>()[(n * C + c) * S + s]; };
    auto DY = [&](std::int64_t n, std::int64_t s) { return dy.data<double>()[(n * C + c) * S + s]; };
    double mean = 0, var = 0;
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t s = 0; s < S; ++s) mean += X(n, s) / M;
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t s = 0; s < S; ++s) var += (X(n, s) - mean) * (X(n, s) - mean) / M;
    const double inv = 1 / std::sqrt(var + eps), g = gamma.data<double>()[c];
    EXPECT_NEAR(toCpu(rmG).data<double>()[c], momentum * rm.data<double>()[c] + (1 - momentum) * mean, 1e-12);
    EXPECT_NEAR(toCpu(rvG).data<double>()[c], momentum * rv.data<double>()[c] + (1 - momentum) * var * M / (M - 1), 1e-12);
    double sdy = 0, sdyx = 0;
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t s = 0; s < S; ++s) {
        double xhat = (X(n, s) - mean) * inv;
        EXPECT_NEAR(y.data<double>()[(n * C + c) * S + s], g * xhat + beta.data<double>()[c], 1e-12);
        sdy += DY(n, s);
        sdyx += DY(n, s) * xhat;
      }
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t s = 0; s < S; ++s) {
        double xhat = (X(n, s) - mean) * inv;
        EXPECT_NEAR(dx.data<double>()[(n * C + c) * S + s], g * inv / M * (M * DY(n, s) - sdy - xhat * sdyx), 1e-12);
      }
    // Sums of up to 210k terms, added in another order on the GPU: relative 1e-13 of their size.
    const double sumTol = 1e-13 * static_cast<double>(M);
    EXPECT_NEAR(toCpu(dgG).data<double>()[c], dg0.data<double>()[c] + sdyx, sumTol);
    EXPECT_NEAR(toCpu(dbG).data<double>()[c], db0.data<double>()[c] + sdy, sumTol);
  }
  // Inference uses the running statistics.
  cudaTable().batchNormForward(false, momentum, eps, xG, toGpu(gamma), toGpu(beta), rmG, rvG, yG, Tensor(), Tensor());
  Tensor yi = toCpu(yG), rmH = toCpu(rmG), rvH = toCpu(rvG);
  const std::int64_t c = C - 1, k = c * S + S / 2;  // sample 0, the last channel
  const double* p = x.data<double>();
  EXPECT_NEAR(yi.data<double>()[k],
              gamma.data<double>()[c] * (p[k] - rmH.data<double>()[c]) / std::sqrt(rvH.data<double>()[c] + eps) +
                  beta.data<double>()[c],
              1e-12);
}

TEST(GpuLayout, BatchNormTrainingMatchesHostFormulas) {
  KAON_REQUIRE_GPU();
  // The kernels cut each channel's N*S values into slices of 16384 (one block each) and walk
  // contiguous runs when S >= 64, flat indices otherwise: small and multi-slice cases of both,
  // slices that start and end inside a sample, and a dense layer's [N, C] (S = 1).
  for (auto [N, C, S] : {std::array<std::int64_t, 3>{4, 3, 10}, {6, 3, 7000}, {3, 2, 70001}, {40000, 3, 1}, {1, 1, 64}}) {
    SCOPED_TRACE(::testing::Message() << "N " << N << " C " << C << " S " << S);
    checkBatchNormAgainstFormulas(N, C, S);
  }
}

// Synchronised batch norm: the replica op sequence on the GPU (slices of one batch, sums added
// as an allreduce would) against the CPU's batch norm over the whole batch.
TEST(GpuLayout, SyncBatchNormSlicesMatchTheWholeBatchOnTheCpu) {
  KAON_REQUIRE_GPU();
  const Shape shape{7, 4, 9, 8};
  Tensor x = randomTensor(shape, 1, DType::Float32, -2.0, 3.0), dy = randomTensor(shape, 6);
  Tensor gamma = randomTensor(Shape{4}, 2, DType::Float32, 0.5, 1.5), beta = randomTensor(Shape{4}, 3);
  Tensor rm = randomTensor(Shape{4}, 4), rv = randomTensor(Shape{4}, 5, DType::Float32, 0.5, 2.0);
  auto sync = testing::replicaBatchNorm(toGpu(x), toGpu(dy), toGpu(gamma), toGpu(beta), toGpu(rm), toGpu(rv),
                                        {0, 3, 7}, 0.9, 1e-3);
  Tensor wholeMean = rm.clone(), wholeVar = rv.clone(), dgamma = Tensor::zeros(Shape{4}), dbeta = Tensor::zeros(Shape{4});
  ops::BatchNormResult whole = ops::batchNorm(x, gamma, beta, wholeMean, wholeVar, true, 0.9, 1e-3);
  Tensor dx = ops::batchNormBackward(true, x, dy, gamma, whole.saveMean, whole.saveInvStd, dgamma, dbeta, 0.0);
  EXPECT_GPU_CLOSE(sync.y, whole.y, kTolF32);
  EXPECT_GPU_CLOSE(sync.runningMean, wholeMean, kTolF32);
  EXPECT_GPU_CLOSE(sync.runningVar, wholeVar, kTolF32);
  EXPECT_GPU_CLOSE(sync.dx, dx, kTolF32);
  EXPECT_GPU_CLOSE(sync.dgamma, dgamma, kTolF32);
  EXPECT_GPU_CLOSE(sync.dbeta, dbeta, kTolF32);
}

}  // namespace
}  // namespace kaon
