// The FFT convolution (src/ops/cuda/conv_fft.hpp), forced with KAON_CONV_FFT=force (2 samples
// per chunk, so odd batches have a remainder chunk), against the CPU backend: forward, data
// gradient and accumulated filter gradient on 1-, 2- and 3-D geometries with symmetric and
// asymmetric padding, in FP32 and bf16.
#include "conv_cases.hpp"
#include "kaon/ops/conv.hpp"
#include "kaon/ops/convert.hpp"
#include "ops/cuda/conv_fft.hpp"

namespace kaon {
namespace {

using namespace gputest;
using testing::randomTensor;
using testing::ScopedEnv;

using Case = ConvCase;

// FP32 FFTs round in O(log L) steps where a direct sum rounds once per term: a little looser
// than kTolF32, far below any indexing or conjugation error (those are O(1)).
constexpr double kTolFft = 5e-5;

void expectFftMatchesCpu(const Case& c) { expectConvMatchesCpu(c, kTolFft); }

TEST(GpuConvFft, MatchesCpuInFp32) {
  KAON_REQUIRE_GPU();
  ScopedEnv env("KAON_CONV_FFT", "force");
  const std::int64_t before = ops::cudak::fftconv::executions();
  const Case cases[] = {
      {"3d_gan_like_k658_batch5", {5, 8, 11, 10, 12}, {3, 8, 6, 5, 8}, {}},
      {"3d_k566_same_one_channel", {3, 1, 9, 10, 10}, {4, 1, 5, 6, 6}, {{1}, {}, {2, 2, 2}, {2, 3, 3}}},
      {"3d_k338_asymmetric_pad", {3, 6, 7, 6, 11}, {6, 6, 3, 3, 8}, {{1}, {}, {1, 0, 3}, {1, 2, 4}}},
      {"2d_even_same", {3, 4, 12, 12}, {6, 4, 4, 4},
       ops::samePadding(std::vector<std::int64_t>{12, 12}, std::vector<std::int64_t>{4, 4}, {1})},
      {"2d_9x9_odd_sizes", {2, 3, 20, 17}, {5, 3, 9, 9}, {{1}, {}, {4}, {4}}},
      {"1d_k7", {3, 2, 30}, {4, 2, 7}, {{1}, {}, {3}, {3}}},
  };
  for (const Case& c : cases) expectFftMatchesCpu(c);
  // Forward, data and filter gradient of every case went through cuFFT.
  EXPECT_GE(ops::cudak::fftconv::executions() - before, 3 * static_cast<std::int64_t>(std::size(cases)));
}

TEST(GpuConvFft, StridedConvolutionsKeepCudnn) {
  KAON_REQUIRE_GPU();
  ScopedEnv env("KAON_CONV_FFT", "force");
  const std::int64_t before = ops::cudak::fftconv::executions();
  expectFftMatchesCpu({"3d_stride2", {2, 3, 9, 8, 7}, {5, 3, 3, 3, 3}, {{2}, {}, {1}, {1}}});
  expectFftMatchesCpu({"2d_dilated", {2, 3, 12, 12}, {4, 3, 3, 3}, {{1}, {2}, {2}, {2}}});
  EXPECT_EQ(ops::cudak::fftconv::executions() - before, 0);  // the FFT path only serves stride 1, dilation 1
}

TEST(GpuConvFft, Bf16ComputesInFp32AndRoundsOnce) {
  KAON_REQUIRE_GPU();
  ScopedEnv env("KAON_CONV_FFT", "force");
  const std::int64_t before = ops::cudak::fftconv::executions();
  auto bf16 = [](const Tensor& t) { return ops::toDType(toGpu(t), DType::BFloat16); };
  auto back = [](const Tensor& t) { return ops::toDType(t, DType::Float32); };
  const ops::ConvParams p{{1}, {}, {2, 2, 2}, {2, 3, 3}};
  Tensor x = randomTensor(Shape{3, 8, 9, 10, 10}, 1), w = randomTensor(Shape{8, 8, 5, 6, 6}, 2);
  // The CPU reference sees the same rounded inputs, so only the output rounding differs
  // (2^-8 of the output scale).
  Tensor xr = toCpu(back(bf16(x))), wr = toCpu(back(bf16(w)));
  Tensor y = ops::conv(xr, wr, Tensor(), p);
  Tensor dy = randomTensor(y.shape(), 4), dyr = toCpu(back(bf16(dy)));
  EXPECT_GPU_CLOSE(back(ops::conv(bf16(x), bf16(w), Tensor(), p)), y, 5e-3);
  EXPECT_GPU_CLOSE(back(ops::convBackwardData(bf16(dy), bf16(w), x.shape(), p)),
                   ops::convBackwardData(dyr, wr, x.shape(), p), 5e-3);
  Tensor dw0 = randomTensor(w.shape(), 5), dw0r = toCpu(back(bf16(dw0)));
  Tensor dwG = bf16(dw0);
  ops::convBackwardParams(bf16(x), bf16(dy), dwG, Tensor(), 0.5, p);
  ops::convBackwardParams(xr, dyr, dw0r, Tensor(), 0.5, p);
  EXPECT_GPU_CLOSE(back(dwG), dw0r, 5e-3);
  EXPECT_GE(ops::cudak::fftconv::executions() - before, 3);
}

TEST(GpuConvFft, ChunksFitTheBudget) {
  KAON_REQUIRE_GPU();
  using namespace ops::cudak;
  // The 3DGAN's 32 -> 8 channel layer at batch 128: 25 x 25 x 27 volumes, 70 KB each.
  ops::ConvGeometry g = ops::convGeometry(Shape{128, 32, 25, 25, 27}, Shape{8, 32, 5, 6, 6}, ops::ConvParams{});
  auto whole = fftconv::makePlan(fftconv::Op::BackwardFilter, g, DType::Float32, std::size_t{1} << 30, 128);
  ASSERT_TRUE(whole);
  EXPECT_EQ(fftconv::chunkSamples(*whole), 128);
  EXPECT_LE(fftconv::workspaceBytes(*whole), std::size_t{1} << 30);
  const std::size_t small = std::size_t{64} << 20;
  auto chunked = fftconv::makePlan(fftconv::Op::Forward, g, DType::BFloat16, small, 128);
  ASSERT_TRUE(chunked);
  EXPECT_LT(fftconv::chunkSamples(*chunked), 128);
  EXPECT_GE(fftconv::chunkSamples(*chunked), 1);
  EXPECT_LE(fftconv::workspaceBytes(*chunked), small);
  EXPECT_FALSE(fftconv::makePlan(fftconv::Op::Forward, g, DType::Float32, std::size_t{1} << 20, 128));  // no chunk fits
  EXPECT_FALSE(fftconv::makePlan(fftconv::Op::Forward, g, DType::Float64, std::size_t{1} << 30, 128));
}

TEST(GpuConvFft, AnUnknownChoiceIsAnError) {
  KAON_REQUIRE_GPU();
  expectUnknownChoiceRejected("KAON_CONV_FFT", "sometimes");
}

}  // namespace
}  // namespace kaon
