// Kaon's sgemm micro-kernels one by one (AVX2 6x16 and AVX-512 8x32, selected with
// setSgemmKernel) against the reference GEMM on odd shapes, with the fused epilogue and a
// pre-packed A; and the fused conv op (bias + activation in the GEMM store) against the
// reference conv + bias + activation. AVX-512 cases skip where the CPU lacks AVX-512F.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "../support/test_util.hpp"
#include "kaon/core/runtime.hpp"
#include "kaon/ops/activation.hpp"
#include "kaon/ops/conv.hpp"
#include "kaon/ops/linalg.hpp"
#include "kaon/ops/reference_scope.hpp"
#include "ops/cpu/sgemm.hpp"

namespace kaon {
namespace {

using ops::cpu::SgemmKernel;
using testing::randomTensor;

// Selects a micro-kernel for one test (skipping when it cannot run here) and restores the default.
class KernelGuard {
 public:
  explicit KernelGuard(SgemmKernel k) { ops::cpu::setSgemmKernel(k); }
  ~KernelGuard() { ops::cpu::setSgemmKernel(SgemmKernel::Auto); }
};

class SgemmKernels : public ::testing::TestWithParam<SgemmKernel> {
 protected:
  void SetUp() override {
    if (!ops::cpu::sgemmAvailable()) GTEST_SKIP() << "build without the own sgemm (no AVX2)";
    if (GetParam() == SgemmKernel::Avx512 && !ops::cpu::sgemmAvx512Usable())
      GTEST_SKIP() << "no AVX-512F on this CPU (or not compiled in)";
    guard_ = std::make_unique<KernelGuard>(GetParam());
  }
  std::unique_ptr<KernelGuard> guard_;
};

// Reference C = act(alpha * op(A) op(B) + beta * C + bias[i]) in double.
Tensor referenceGemm(bool ta, bool tb, double alpha, const Tensor& a, const Tensor& b, double beta, const Tensor& c,
                     const Tensor& bias, ops::Activation act, double slope) {
  Tensor out = c.clone();
  {
    ops::ReferenceKernelsScope reference;
    ops::gemm(ta, tb, alpha, a, b, beta, out);
  }
  if (bias.defined()) {
    const std::int64_t n = out.dim(1);
    for (std::int64_t i = 0; i < out.numel(); ++i) out.span<float>()[i] += bias.span<float>()[i / n];
  }
  if (act == ops::Activation::Identity) return out;
  ops::ReferenceKernelsScope reference;
  return ops::activation(act, out, slope);
}

TEST_P(SgemmKernels, OddShapesAllTransposesMatchReference) {
  struct Dims {
    std::int64_t m, n, k;
  };
  for (int threads : {1, 2}) {
    setNumThreads(threads);
    // Rows not a multiple of 6 or 8, columns not of 16 or 32, K across several KC blocks.
    for (Dims d : {Dims{1, 1, 1}, Dims{7, 15, 3}, Dims{9, 33, 129}, Dims{13, 47, 300}, Dims{130, 70, 257},
                   Dims{33, 500, 17}, Dims{64, 16, 1000}})
      for (int t = 0; t < 4; ++t)
        for (double beta : {0.0, 0.7}) {
          const bool ta = t & 2, tb = t & 1;
          SCOPED_TRACE(::testing::Message() << "threads " << threads << " " << d.m << "x" << d.n << "x" << d.k
                                            << " ta=" << ta << " tb=" << tb << " beta=" << beta);
          Tensor a = randomTensor(ta ? Shape{d.k, d.m} : Shape{d.m, d.k}, 1);
          Tensor b = randomTensor(tb ? Shape{d.n, d.k} : Shape{d.k, d.n}, 2);
          Tensor c = randomTensor(Shape{d.m, d.n}, 3);
          Tensor ref = referenceGemm(ta, tb, 0.9, a, b, beta, c, Tensor(), ops::Activation::Identity, 0);
          if (beta == 0.0) c.span<float>()[c.numel() - 1] = std::numeric_limits<float>::quiet_NaN();  // not read
          ops::gemm(ta, tb, 0.9, a, b, beta, c);
          EXPECT_TENSORS_CLOSE(c, ref, 2e-6 * std::sqrt(static_cast<double>(d.k)) + 1e-6);
        }
  }
  setNumThreads(0);
}

TEST_P(SgemmKernels, EpilogueAndPackedAMatchReference) {
  using ops::Activation;
  for (Activation act : {Activation::Identity, Activation::Relu, Activation::LeakyRelu, Activation::Sigmoid,
                         Activation::Tanh, Activation::Elu})
    for (bool withBias : {false, true})
      for (bool packed : {false, true}) {
        const std::int64_t m = 21, n = 75, k = 300;  // ragged in every direction, 3 K blocks
        SCOPED_TRACE(::testing::Message() << ops::activationName(act) << " bias " << withBias << " packed " << packed);
        Tensor a = randomTensor(Shape{m, k}, 4), b = randomTensor(Shape{k, n}, 5), c = randomTensor(Shape{m, n}, 6);
        Tensor bias = withBias ? randomTensor(Shape{m}, 7, DType::Float32, -3, 3) : Tensor();
        Tensor ref = referenceGemm(false, false, 1.0, a, b, 0.5, c, bias, act, 0.2);
        ops::cpu::GemmEpilogue e{withBias ? bias.data<float>() : nullptr, act, 0.2f};
        ops::cpu::StridedMatrix sa{a.data<float>(), k, 1}, sb{b.data<float>(), n, 1};
        ops::cpu::PackedA pa;
        if (packed) pa.pack(m, k, sa);
        for (int threads : {1, 2}) {
          Tensor out = c.clone();
          if (packed)
            ops::cpu::sgemm(m, n, k, 1.f, pa, sb, 0.5f, out.data<float>(), n, threads, &e);
          else
            ops::cpu::sgemm(m, n, k, 1.f, sa, sb, 0.5f, out.data<float>(), n, threads, &e);
          EXPECT_TENSORS_CLOSE(out, ref, 1e-5);
        }
      }
}

TEST_P(SgemmKernels, ResultDoesNotDependOnThreads) {
  Tensor a = randomTensor(Shape{200, 700}, 1), b = randomTensor(Shape{700, 333}, 2);
  Tensor c1 = randomTensor(Shape{200, 333}, 3), c2 = c1.clone();
  setNumThreads(1);
  ops::gemm(false, false, 1.0, a, b, 0.5, c1);
  setNumThreads(2);
  ops::gemm(false, false, 1.0, a, b, 0.5, c2);
  setNumThreads(0);
  EXPECT_EQ(std::memcmp(c1.raw(), c2.raw(), c1.bytes()), 0);
}

TEST_P(SgemmKernels, PackedAFromAnotherKernelIsRefused) {
  if (!ops::cpu::sgemmAvx512Usable()) GTEST_SKIP() << "needs both kernels";
  Tensor a = randomTensor(Shape{8, 8}, 1), b = randomTensor(Shape{8, 8}, 2), c = Tensor::zeros(Shape{8, 8});
  ops::cpu::PackedA pa;
  pa.pack(8, 8, {a.data<float>(), 8, 1});
  ops::cpu::setSgemmKernel(GetParam() == SgemmKernel::Avx2 ? SgemmKernel::Avx512 : SgemmKernel::Avx2);
  EXPECT_THROW(ops::cpu::sgemm(8, 8, 8, 1.f, pa, {b.data<float>(), 8, 1}, 0.f, c.data<float>(), 8, 1), Error);
}

// ops::conv with a fused activation against the reference conv + bias + activation, for the
// GEMM path (3x3, 1x1), the direct kernel (<= 4 filters), strided and float64 (unfused) cases.
TEST_P(SgemmKernels, FusedConvMatchesReferenceComposition) {
  using ops::Activation;
  struct Case {
    const char* label;
    Shape x, w;
    ops::ConvParams p;
  };
  auto same = [](std::vector<std::int64_t> s, std::vector<std::int64_t> k) { return ops::samePadding(s, k, {1}); };
  const Case cases[] = {
      {"gemm_3x3", {3, 5, 13, 35}, {20, 5, 3, 3}, same({13, 35}, {3, 3})},
      {"pointwise", {2, 7, 6, 9}, {11, 7, 1, 1}, ops::ConvParams{}},
      {"direct_2_filters", {2, 6, 12, 20}, {2, 6, 5, 5}, same({12, 20}, {5, 5})},
      {"strided", {2, 3, 11, 9}, {9, 3, 3, 3}, ops::ConvParams{{2}, {}, {1}, {0}}},
  };
  for (const Case& cs : cases)
    for (DType dt : {DType::Float32, DType::Float64})
      for (Activation act : {Activation::Identity, Activation::Relu, Activation::LeakyRelu, Activation::Elu})
        for (bool withBias : {false, true}) {
          SCOPED_TRACE(::testing::Message() << cs.label << " " << dtypeName(dt) << " " << ops::activationName(act)
                                            << " bias " << withBias);
          Tensor x = randomTensor(cs.x, 1, dt), w = randomTensor(cs.w, 2, dt);
          Tensor b = withBias ? randomTensor(Shape{cs.w[0]}, 3, dt) : Tensor();
          Tensor y = ops::conv(x, w, b, cs.p, act, 0.1);
          ops::ReferenceKernelsScope reference;
          Tensor ref = ops::activation(act, ops::conv(x, w, b, cs.p), 0.1);
          EXPECT_TENSORS_CLOSE(y, ref, dt == DType::Float32 ? 1e-5 : 1e-12);
        }
}

TEST(FusedConv, RejectsAMisfitBias) {
  Tensor x = randomTensor(Shape{1, 2, 5, 5}, 1), w = randomTensor(Shape{4, 2, 3, 3}, 2);
  EXPECT_THROW(ops::conv(x, w, randomTensor(Shape{3}, 3), ops::ConvParams{}, ops::Activation::Relu), Error);
}

INSTANTIATE_TEST_SUITE_P(Kernels, SgemmKernels, ::testing::Values(SgemmKernel::Avx2, SgemmKernel::Avx512),
                         [](const auto& info) { return std::string(ops::cpu::sgemmKernelName(info.param)); });

}  // namespace
}  // namespace kaon
