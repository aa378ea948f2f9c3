// The cuDNN graph-API convolution engines (src/ops/cuda/cudnn_graph_conv.hpp), forced with
// KAON_CUDNN_ENGINES=graph, against the CPU backend: forward, data gradient and accumulated
// filter gradient, on the geometries the legacy API serves slowly (odd 3-D kernels) and on the
// awkward ones (asymmetric "same" padding, stride 2, 2-D).
#include <cstdlib>

#include "conv_cases.hpp"
#include "kaon/ops/conv.hpp"
#include "kaon/ops/convert.hpp"
#include "ops/cuda/conv_channels_last.hpp"
#include "ops/cuda/cuda_kernels.hpp"
#include "ops/cuda/cudnn_graph_conv.hpp"

namespace kaon {
namespace {

using namespace gputest;
using testing::randomTensor;
using testing::ScopedEnv;

using Case = ConvCase;
void expectConvMatchesCpu(const Case& c) { gputest::expectConvMatchesCpu(c, kTolF32); }

TEST(GpuConvGraphEngines, MatchCpuAndRunThroughTheGraphApi) {
  KAON_REQUIRE_GPU();
  ScopedEnv env("KAON_CUDNN_ENGINES", "graph");
  const std::int64_t before = ops::cudak::graph::executions();
  for (const Case& c : {Case{"3d_gan_like_k658", {4, 8, 11, 10, 12}, {3, 8, 6, 5, 8}, {}},
                        Case{"3d_k566_pad", {3, 2, 9, 10, 10}, {4, 2, 5, 6, 6}, {{1}, {}, {2, 2, 2}, {2, 3, 3}}},
                        Case{"3d_stride2", {2, 3, 9, 8, 7}, {5, 3, 3, 3, 3}, {{2}, {}, {1}, {1}}},
                        Case{"2d_even_same", {2, 4, 12, 12}, {6, 4, 4, 4},
                             ops::samePadding(std::vector<std::int64_t>{12, 12}, std::vector<std::int64_t>{4, 4}, {1})},
                        Case{"2d_basic", {4, 16, 16, 16}, {8, 16, 3, 3}, {{1}, {}, {1}, {1}}}}) {
    expectConvMatchesCpu(c);
  }
  // Every geometry above has graph engines on sm_80+; none used means the path is broken.
  EXPECT_GE(ops::cudak::graph::executions() - before, 10);
}

TEST(GpuConvGraphEngines, Bf16RunsOnTensorCoreEnginesWithFp32Accumulation) {
  KAON_REQUIRE_GPU();
  ScopedEnv env("KAON_CUDNN_ENGINES", "graph");
  const std::int64_t before = ops::cudak::graph::executions();
  // bf16 inputs (8 significant bits) with FP32 accumulation: about 1e-2 of the output scale.
  const ops::ConvParams p{};
  Tensor x = randomTensor(Shape{4, 8, 11, 10, 12}, 1), w = randomTensor(Shape{8, 8, 6, 5, 8}, 2);
  auto bf16 = [](const Tensor& t) { return ops::toDType(toGpu(t), DType::BFloat16); };
  auto back = [](const Tensor& t) { return ops::toDType(t, DType::Float32); };
  // The CPU reference sees the same rounded inputs, so only accumulation differs.
  Tensor xr = toCpu(back(bf16(x))), wr = toCpu(back(bf16(w)));
  Tensor y = ops::conv(xr, wr, Tensor(), p);
  Tensor dy = randomTensor(y.shape(), 4), dyr = toCpu(back(bf16(dy)));
  EXPECT_GPU_CLOSE(back(ops::conv(bf16(x), bf16(w), Tensor(), p)), y, 1e-2);
  EXPECT_GPU_CLOSE(back(ops::convBackwardData(bf16(dy), bf16(w), x.shape(), p)),
                   ops::convBackwardData(dyr, wr, x.shape(), p), 1e-2);
  Tensor dwG = ops::toDType(toGpu(Tensor::zeros(w.shape())), DType::BFloat16), dw = Tensor::zeros(w.shape());
  ops::convBackwardParams(bf16(x), bf16(dy), dwG, Tensor(), 0.0, p);
  ops::convBackwardParams(xr, dyr, dw, Tensor(), 0.0, p);
  EXPECT_GPU_CLOSE(back(dwG), dw, 1e-2);
  EXPECT_GE(ops::cudak::graph::executions() - before, 3);
}

TEST(GpuConvFilterGemm, Im2colCublasFilterGradientMatchesCpu) {
  KAON_REQUIRE_GPU();
  // Forced: every strict-FP32 filter gradient takes im2col + cuBLAS, 2 samples per chunk (so
  // batches of 3 and 5 have a remainder chunk), accumulating with beta 0.5.
  ScopedEnv env("KAON_CONV_FILTER_GEMM", "force");
  for (const Case& c : {Case{"3d_gan_like_k566", {5, 1, 9, 10, 10}, {4, 1, 5, 6, 6}, {}},
                        Case{"3d_k338_pad", {3, 6, 7, 6, 11}, {6, 6, 3, 3, 8}, {{1}, {}, {1, 0, 3}, {1, 2, 4}}},
                        Case{"3d_stride2_dilated", {2, 3, 9, 8, 9}, {5, 3, 3, 2, 3}, {{2, 1, 2}, {1, 2, 1}, {1}, {1}}},
                        Case{"2d_even_same", {3, 4, 12, 12}, {6, 4, 4, 4},
                             ops::samePadding(std::vector<std::int64_t>{12, 12}, std::vector<std::int64_t>{4, 4}, {1})}}) {
    SCOPED_TRACE(c.label);
    Tensor x = randomTensor(c.x, 1), w = randomTensor(c.w, 2);
    Tensor dy = randomTensor(ops::conv(x, w, Tensor(), c.p).shape(), 4);
    Tensor dw = randomTensor(w.shape(), 5), dwG = toGpu(dw);
    ops::convBackwardParams(x, dy, dw, Tensor(), 0.5, c.p);
    ops::convBackwardParams(toGpu(x), toGpu(dy), dwG, Tensor(), 0.5, c.p);
    EXPECT_GPU_CLOSE(dwG, dw, kTolF32);
  }
}

// KAON_CONV_CHANNELS_LAST=force: every convolution with a channels-last engine runs as
// transpose -> engine -> transpose back (beta applied there), here in strict FP32 against the
// CPU backend on the same awkward geometries.
TEST(GpuConvChannelsLast, TransposedEnginesMatchCpu) {
  KAON_REQUIRE_GPU();
  ScopedEnv env("KAON_CONV_CHANNELS_LAST", "force");
  const std::int64_t before = ops::cudak::channelslast::executions();
  for (const Case& c : {Case{"3d_gan_like_k658", {3, 8, 11, 10, 12}, {3, 8, 6, 5, 8}, {}},
                        Case{"3d_k566_one_channel", {3, 1, 9, 10, 10}, {4, 1, 5, 6, 6}, {{1}, {}, {2, 2, 2}, {2, 3, 3}}},
                        Case{"3d_stride2", {2, 3, 9, 8, 7}, {5, 3, 3, 3, 3}, {{2}, {}, {1}, {1}}},
                        Case{"2d_even_same", {2, 4, 12, 12}, {6, 4, 4, 4},
                             ops::samePadding(std::vector<std::int64_t>{12, 12}, std::vector<std::int64_t>{4, 4}, {1})},
                        Case{"2d_basic", {4, 16, 16, 16}, {8, 16, 3, 3}, {{1}, {}, {1}, {1}}}}) {
    expectConvMatchesCpu(c);
  }
  // cuDNN has strict-FP32 channels-last engines for at least some of these; none means the
  // path never ran.
  EXPECT_GT(ops::cudak::channelslast::executions() - before, 0);
}

TEST(GpuConvChannelsLast, Bf16TransposedEnginesMatchCpu) {
  KAON_REQUIRE_GPU();
  ScopedEnv env("KAON_CONV_CHANNELS_LAST", "force");
  const std::int64_t before = ops::cudak::channelslast::executions();
  auto bf16 = [](const Tensor& t) { return ops::toDType(toGpu(t), DType::BFloat16); };
  auto back = [](const Tensor& t) { return ops::toDType(t, DType::Float32); };
  for (const Case& c : {Case{"3d_gan_like_k566", {4, 8, 9, 10, 10}, {8, 8, 5, 6, 6}, {}},
                        Case{"3d_one_channel_pad", {3, 1, 9, 10, 10}, {8, 1, 5, 6, 6}, {{1}, {}, {2, 2, 2}, {2, 3, 3}}},
                        Case{"2d_basic", {4, 16, 16, 16}, {8, 16, 3, 3}, {{1}, {}, {1}, {1}}}}) {
    SCOPED_TRACE(c.label);
    Tensor x = randomTensor(c.x, 1), w = randomTensor(c.w, 2);
    Tensor xr = toCpu(back(bf16(x))), wr = toCpu(back(bf16(w)));
    Tensor y = ops::conv(xr, wr, Tensor(), c.p);
    Tensor dy = randomTensor(y.shape(), 4), dyr = toCpu(back(bf16(dy)));
    EXPECT_GPU_CLOSE(back(ops::conv(bf16(x), bf16(w), Tensor(), c.p)), y, 1e-2);
    EXPECT_GPU_CLOSE(back(ops::convBackwardData(bf16(dy), bf16(w), x.shape(), c.p)),
                     ops::convBackwardData(dyr, wr, x.shape(), c.p), 1e-2);
    Tensor dw0 = randomTensor(w.shape(), 5), dw0r = toCpu(back(bf16(dw0)));
    Tensor dwG = bf16(dw0);
    ops::convBackwardParams(bf16(x), bf16(dy), dwG, Tensor(), 0.5, c.p);
    ops::convBackwardParams(xr, dyr, dw0r, Tensor(), 0.5, c.p);
    EXPECT_GPU_CLOSE(back(dwG), dw0r, 1e-2);
  }
  EXPECT_GE(ops::cudak::channelslast::executions() - before, 9);  // tensor-core engines exist for all
}

TEST(GpuConvChannelsLast, AnUnknownChoiceIsAnError) {
  KAON_REQUIRE_GPU();
  expectUnknownChoiceRejected("KAON_CONV_CHANNELS_LAST", "always");
}

TEST(GpuConvGraphEngines, AnUnknownChoiceIsAnError) {
  KAON_REQUIRE_GPU();
  expectUnknownChoiceRejected("KAON_CUDNN_ENGINES", "fastest");
}

// KAON_CONV_PAD_CHANNELS=force: bf16 forward convolutions of fewer than 8 input channels run
// with the input and weights zero-padded to 8 channels (tensor-core kernels); the result must
// equal the unpadded convolution's. Strict FP32 never pads (no tensor cores to gain).
TEST(GpuConvPadChannels, ZeroPaddedChannelsGiveTheSameForward) {
  KAON_REQUIRE_GPU();
  ScopedEnv env("KAON_CONV_PAD_CHANNELS", "force");
  auto bf16 = [](const Tensor& t) { return ops::toDType(toGpu(t), DType::BFloat16); };
  auto back = [](const Tensor& t) { return ops::toDType(t, DType::Float32); };
  const std::int64_t before = ops::cudak::channelPadRuns();
  for (const Case& c : {Case{"2d_rgb_same", {4, 3, 16, 16}, {16, 3, 3, 3}, {{1}, {}, {1}, {1}}},
                        Case{"2d_even_same", {2, 3, 12, 12}, {8, 3, 4, 4},
                             ops::samePadding(std::vector<std::int64_t>{12, 12}, std::vector<std::int64_t>{4, 4}, {1})},
                        Case{"3d_one_channel", {2, 1, 9, 10, 10}, {8, 1, 5, 6, 6}, {{1}, {}, {2}, {2}}},
                        Case{"2d_stride2", {2, 5, 15, 15}, {8, 5, 3, 3}, {{2}, {}, {1}, {1}}}}) {
    SCOPED_TRACE(c.label);
    Tensor x = randomTensor(c.x, 1), w = randomTensor(c.w, 2);
    Tensor y = ops::conv(toCpu(back(bf16(x))), toCpu(back(bf16(w))), Tensor(), c.p);
    EXPECT_GPU_CLOSE(back(ops::conv(bf16(x), bf16(w), Tensor(), c.p)), y, 1e-2);
  }
  EXPECT_EQ(ops::cudak::channelPadRuns() - before, 4);
  Tensor x = randomTensor(Shape{2, 3, 8, 8}, 3), w = randomTensor(Shape{4, 3, 3, 3}, 4);
  EXPECT_GPU_CLOSE(ops::conv(toGpu(x), toGpu(w), Tensor(), {}), ops::conv(x, w, Tensor(), {}), kTolF32);
  EXPECT_EQ(ops::cudak::channelPadRuns() - before, 4);  // strict FP32: not padded
}

TEST(GpuConvPadChannels, AnUnknownChoiceIsAnError) {
  KAON_REQUIRE_GPU();
  expectUnknownChoiceRejected("KAON_CONV_PAD_CHANNELS", "yes", DType::BFloat16);
}

}  // namespace
}  // namespace kaon
