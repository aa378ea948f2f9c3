// The CUDA kernels in bf16 and fp16 against the fp32 CPU backend, and TF32 against strict FP32.
//
// Inputs are rounded to the low dtype first (on the GPU) and the CPU reference runs in fp32 on
// the rounded values, so the remaining difference is the output rounding (2^-9 relative for
// bf16, 2^-12 for fp16) plus the fp32 accumulation order: tolerances are a few output ulps.
#include <functional>

#include "gpu_util.hpp"
#include "kaon/core/precision.hpp"
#include "kaon/ops/activation.hpp"
#include "kaon/ops/concat.hpp"
#include "kaon/ops/conv.hpp"
#include "kaon/ops/convert.hpp"
#include "kaon/ops/dropout.hpp"
#include "kaon/ops/elementwise.hpp"
#include "kaon/ops/linalg.hpp"
#include "kaon/ops/loss.hpp"
#include "kaon/ops/pool.hpp"
#include "kaon/ops/resample.hpp"

namespace kaon {
namespace {

using namespace gputest;
using testing::randomTensor;
using Inputs = std::vector<Tensor>;

struct LowCase {
  const char* name;
  std::vector<Shape> inputs;
  std::function<Tensor(const Inputs&)> run;  // any device and dtype; returns one tensor
};

ops::ConvParams same3() { return {{1}, {}, {1}, {1}}; }
Tensor zerosLike(const Shape& s, const Tensor& like) { return Tensor::zeros(s, like.dtype(), like.device()); }

std::vector<LowCase> lowCases() {
  using A = ops::Activation;
  return {
      {"matmul", {{33, 70}, {70, 45}}, [](const Inputs& v) { return ops::matmul(v[0], v[1]); }},
      {"matmul_tt", {{70, 33}, {45, 70}}, [](const Inputs& v) { return ops::matmul(v[0], v[1], true, true); }},
      {"linear", {{16, 64}, {24, 64}, {24}}, [](const Inputs& v) { return ops::linear(v[0], v[1], v[2]); }},
      {"conv3x3_bias_relu", {{4, 8, 12, 12}, {16, 8, 3, 3}, {16}},
       [](const Inputs& v) { return ops::conv(v[0], v[1], v[2], same3(), A::Relu); }},
      {"conv9x9", {{2, 2, 20, 20}, {8, 2, 9, 9}, {8}},
       [](const Inputs& v) { return ops::conv(v[0], v[1], v[2], ops::ConvParams{{1}, {}, {4}, {4}}); }},
      {"conv_even_same", {{2, 3, 9, 9}, {4, 3, 4, 4}, {4}},
       [](const Inputs& v) {
         return ops::conv(v[0], v[1], v[2], ops::samePadding(std::vector<std::int64_t>{9, 9},
                                                               std::vector<std::int64_t>{4, 4}, {1}));
       }},
      {"conv_backward_data", {{4, 16, 12, 12}, {16, 8, 3, 3}},
       [](const Inputs& v) { return ops::convBackwardData(v[0], v[1], Shape{4, 8, 12, 12}, same3()); }},
      {"conv_backward_filter", {{4, 8, 12, 12}, {4, 16, 12, 12}},
       [](const Inputs& v) {
         Tensor dw = zerosLike(Shape{16, 8, 3, 3}, v[0]);
         ops::convBackwardParams(v[0], v[1], dw, Tensor(), 0.0, same3());
         return dw;
       }},
      {"bias_backward", {{4, 16, 6, 6}},
       [](const Inputs& v) {
         Tensor db = zerosLike(Shape{16}, v[0]);
         ops::biasBackward(v[0], db, 0.0);
         return db;
       }},
      {"relu", {{3, 5, 7, 9}}, [](const Inputs& v) { return ops::activation(A::Relu, v[0]); }},
      {"tanh", {{3, 5, 7, 9}}, [](const Inputs& v) { return ops::activation(A::Tanh, v[0]); }},
      {"sigmoid_backward", {{1000}, {1000}},
       [](const Inputs& v) { return ops::activationBackward(A::Sigmoid, v[0], ops::activation(A::Sigmoid, v[0]), v[1]); }},
      {"leaky_relu_backward", {{1000}, {1000}},
       [](const Inputs& v) {
         return ops::activationBackward(A::LeakyRelu, v[0], ops::activation(A::LeakyRelu, v[0], 0.2), v[1], 0.2);
       }},
      {"softmax", {{8, 10}}, [](const Inputs& v) { return ops::softmax(v[0]); }},
      {"softmax_backward", {{8, 10}, {8, 10}},
       [](const Inputs& v) { return ops::softmaxBackward(ops::softmax(v[0]), v[1]); }},
      {"max_pool", {{2, 3, 10, 10}}, [](const Inputs& v) { return ops::pool(ops::PoolKind::Max, v[0], {2, 2}, {}).y; }},
      {"avg_pool_pad", {{2, 3, 9, 9}},
       [](const Inputs& v) { return ops::pool(ops::PoolKind::Average, v[0], {3, 3}, {{2}, {}, {1}, {1}}).y; }},
      {"max_pool_backward", {{2, 3, 10, 10}, {2, 3, 5, 5}},
       [](const Inputs& v) {
         auto r = ops::pool(ops::PoolKind::Max, v[0], {2, 2}, {});
         return ops::poolBackward(ops::PoolKind::Max, v[1], r.argmax, v[0].shape(), {2, 2}, {});
       }},
      {"pad", {{2, 3, 5, 6}}, [](const Inputs& v) { return ops::pad(v[0], {1, 2}, {2, 0}); }},
      {"pad_backward", {{2, 3, 8, 8}},
       [](const Inputs& v) { return ops::padBackward(v[0], Shape{2, 3, 5, 6}, {1, 2}); }},
      {"upsample", {{2, 3, 4, 5}}, [](const Inputs& v) { return ops::upsample(v[0], {2, 3}); }},
      {"upsample_backward", {{2, 3, 8, 15}},
       [](const Inputs& v) { return ops::upsampleBackward(v[0], Shape{2, 3, 4, 5}, {2, 3}); }},
      {"concat", {{2, 3, 4, 4}, {2, 5, 4, 4}}, [](const Inputs& v) { return ops::concat({v[0], v[1]}, 1); }},
      {"slice_channel0", {{4, 2, 6, 6}}, [](const Inputs& v) { return ops::sliceAxis(v[0], 1, 0, 1); }},
      {"add", {{500}, {500}}, [](const Inputs& v) { return ops::add(v[0], v[1]); }},
      {"mul", {{500}, {500}}, [](const Inputs& v) { return ops::mul(v[0], v[1]); }},
      {"axpby", {{500}, {500}},
       [](const Inputs& v) {
         Tensor out = v[0].clone();
         ops::axpby(0.75, v[0], -1.5, v[1], out);
         return out;
       }},
      {"dropout", {{4000}}, [](const Inputs& v) { return ops::dropout(v[0], 0.3, 42, 7).y; }},
  };
}

class GpuLowPrecision : public ::testing::TestWithParam<DType> {};

TEST_P(GpuLowPrecision, EveryOpMatchesTheFp32CpuReference) {
  KAON_REQUIRE_GPU();
  const DType low = GetParam();
  const double tol = low == DType::BFloat16 ? 1.2e-2 : 2e-3;
  std::uint64_t seed = 1;
  for (const LowCase& c : lowCases()) {
    Inputs onGpu, reference;
    for (const Shape& s : c.inputs) {
      Tensor x = ops::toDType(toGpu(randomTensor(s, seed++)), low);
      onGpu.push_back(x);
      reference.push_back(toCpu(ops::toDType(x, DType::Float32)));  // the rounded values, in fp32
    }
    Tensor got = c.run(onGpu);
    ASSERT_EQ(got.dtype(), low) << c.name;
    Tensor want = c.run(reference);
    EXPECT_TRUE(testing::tensorsClose(toCpu(ops::toDType(got, DType::Float32)), want, tol)) << c.name << " in "
                                                                                            << dtypeName(low);
  }
}

TEST_P(GpuLowPrecision, SumAccumulatesInDouble) {
  KAON_REQUIRE_GPU();
  Tensor x = ops::toDType(toGpu(Tensor::full(Shape{1 << 20}, 1.0)), GetParam());
  EXPECT_EQ(ops::sum(x), static_cast<double>(1 << 20));  // 2^20 ones: exact, far past 16-bit range
  EXPECT_EQ(ops::sumSquares(x), static_cast<double>(1 << 20));
}

TEST_P(GpuLowPrecision, ConversionRoundsToNearestAndScales) {
  KAON_REQUIRE_GPU();
  const DType low = GetParam();
  // Representable values survive the round trip exactly; 1 + 2^-12 rounds to 1 in both types.
  Tensor x = Tensor::fromVector<float>(Shape{5}, {1.0f, -2.5f, 0.0f, 1.0f + 1.0f / 4096.0f, 3.0f});
  Tensor back = toCpu(ops::toDType(ops::toDType(toGpu(x), low, 4.0), DType::Float32, 0.25));
  EXPECT_EQ(back.toVector<float>(), (std::vector<float>{1.0f, -2.5f, 0.0f, 1.0f, 3.0f}));
  // fp16 overflows to inf above 65504 (the loss scaler relies on it); bf16 has fp32's range.
  Tensor big = toCpu(ops::toDType(ops::toDType(toGpu(Tensor::full(Shape{1}, 1e5)), low), DType::Float32));
  if (low == DType::Float16) EXPECT_TRUE(std::isinf(big.item()));
  else EXPECT_NEAR(big.item(), 1e5, 1e5 / 256);
}

TEST(GpuLowPrecisionLimits, LossesSayNotImplemented) {
  KAON_REQUIRE_GPU();
  Tensor x = ops::toDType(toGpu(randomTensor(Shape{4, 3}, 1)), DType::BFloat16);
  EXPECT_THROW(ops::loss(ops::LossKind::MeanSquaredError, x, x), NotImplemented);
}

INSTANTIATE_TEST_SUITE_P(Types, GpuLowPrecision, ::testing::Values(DType::BFloat16, DType::Float16),
                         [](const auto& info) { return std::string(dtypeName(info.param)); });

// TF32: visibly less exact than strict FP32 (10-bit mantissa inputs), still close; strict FP32
// matches the CPU (so the switch reaches cuBLAS, and strict mode keeps tensor cores off).
TEST(GpuTf32, GemmAndConvUseTf32OnlyWhenAllowed) {
  KAON_REQUIRE_GPU();
  Tensor a = randomTensor(Shape{256, 512}, 1), b = randomTensor(Shape{512, 256}, 2);
  Tensor x = randomTensor(Shape{8, 64, 16, 16}, 3), w = randomTensor(Shape{64, 64, 3, 3}, 4);
  Tensor gemmRef = ops::matmul(a, b), convRef = ops::conv(x, w, Tensor(), same3());
  auto errors = [&](bool tf32) {
    setTf32Allowed(tf32);
    double e1 = testing::normalisedError(toCpu(ops::matmul(toGpu(a), toGpu(b))), gemmRef);
    double e2 = testing::normalisedError(toCpu(ops::conv(toGpu(x), toGpu(w), Tensor(), same3())), convRef);
    setTf32Allowed(false);
    return std::pair{e1, e2};
  };
  auto [strictGemm, strictConv] = errors(false);
  auto [tfGemm, tfConv] = errors(true);
  EXPECT_LT(strictGemm, kTolF32);
  EXPECT_LT(strictConv, kTolF32);
  EXPECT_GT(tfGemm, 10 * strictGemm);
  EXPECT_LT(tfGemm, 5e-3);
  EXPECT_LT(tfConv, 5e-3);  // cuDNN may still pick a non-tensor-core algorithm: no lower bound
}

}  // namespace
}  // namespace kaon
