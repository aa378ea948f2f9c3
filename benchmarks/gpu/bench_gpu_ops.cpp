// kaon-bench-gpu: times Kaon's CUDA kernels on typical layer shapes and prints CSV
// (op,ms,work) with the mean of timed repetitions after warm-up; compare with
// benchmarks/gpu/bench_torch_ops.py (same ops and shapes, TF32 off) via scripts/gpu-check.sh.
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

#include "kaon/core/runtime.hpp"
#include "kaon/core/tensor.hpp"
#include "kaon/ops/activation.hpp"
#include "kaon/ops/conv.hpp"
#include "kaon/ops/elementwise.hpp"
#include "kaon/ops/linalg.hpp"
#include "kaon/ops/loss.hpp"
#include "kaon/ops/optimizer_steps.hpp"
#include "kaon/ops/pool.hpp"

using namespace kaon;

namespace {

Tensor randomGpu(const Shape& s, double lo = -1, double hi = 1) {
  Tensor t = Tensor::empty(s);
  std::uint64_t state = 88172645463325252ull;
  for (float& v : t.span<float>()) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    v = static_cast<float>(lo + (hi - lo) * static_cast<double>(state >> 11) / 9007199254740992.0);
  }
  return t.to(Device::cuda(0));
}

void timeIt(const std::string& name, const std::function<void()>& f) {
  for (int i = 0; i < 3; ++i) f();
  cudaSynchronize(0);
  int reps = 0;
  auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  while (reps < 5 || (elapsed < 0.3 && reps < 200)) {
    f();
    ++reps;
    cudaSynchronize(0);
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  std::printf("%s,%.4f\n", name.c_str(), 1e3 * elapsed / reps);
  std::fflush(stdout);
}

}  // namespace

int main() {
  if (cudaDeviceCount() == 0) {
    std::fprintf(stderr, "kaon-bench-gpu: no CUDA device\n");
    return 0;
  }
  std::printf("op,kaon_ms\n");
  {  // GEMM 4096^3 and a Dense-layer shape
    Tensor a = randomGpu(Shape{4096, 4096}), b = randomGpu(Shape{4096, 4096}), c = randomGpu(Shape{4096, 4096});
    timeIt("gemm_4096", [&] { ops::gemm(false, false, 1.0, a, b, 0.0, c); });
    Tensor x = randomGpu(Shape{256, 1024}), w = randomGpu(Shape{1024, 1024}), bias = randomGpu(Shape{1024});
    timeIt("linear_256x1024x1024", [&] { ops::linear(x, w, bias); });
  }
  struct ConvCase {
    const char* name;
    Shape x, w;
    ops::ConvParams p;
  };
  for (const ConvCase& c : {ConvCase{"conv2d_n64_c64_56_k3", {64, 64, 56, 56}, {64, 64, 3, 3}, {{1}, {}, {1}, {1}}},
                            ConvCase{"conv2d_n64_c128_28_k3_s2", {64, 128, 28, 28}, {256, 128, 3, 3}, {{2}, {}, {1}, {1}}},
                            ConvCase{"conv2d_n32_c3_224_k7_s2", {32, 3, 224, 224}, {64, 3, 7, 7}, {{2}, {}, {3}, {3}}},
                            ConvCase{"conv3d_n8_c16_32_k3", {8, 16, 32, 32, 32}, {32, 16, 3, 3, 3}, {{1}, {}, {1}, {1}}},
                            // The 3DGAN's odd 3-D kernels at batch 128, inputs already zero-padded
                            // (generator g1-g3, discriminator d1-d3; see docs/perf-notes.md).
                            ConvCase{"gan_g1_k668", {128, 8, 12, 12, 15}, {64, 8, 6, 6, 8}, {}},
                            ConvCase{"gan_g2_k658", {128, 64, 18, 18, 16}, {6, 64, 6, 5, 8}, {}},
                            ConvCase{"gan_g3_k338", {128, 6, 28, 28, 33}, {6, 6, 3, 3, 8}, {}},
                            ConvCase{"gan_d1_k566", {128, 1, 29, 30, 30}, {32, 1, 5, 6, 6}, {}},
                            ConvCase{"gan_d2_k566", {128, 32, 25, 25, 27}, {8, 32, 5, 6, 6}, {}},
                            ConvCase{"gan_d3_k566", {128, 8, 21, 20, 24}, {8, 8, 5, 6, 6}, {}}}) {
    Tensor x = randomGpu(c.x), w = randomGpu(c.w), b = randomGpu(Shape{c.w[0]});
    Tensor y = ops::conv(x, w, b, c.p);
    Tensor dy = randomGpu(y.shape());
    Tensor dw = Tensor::zeros(w.shape(), DType::Float32, x.device()), db = Tensor::zeros(b.shape(), DType::Float32, x.device());
    timeIt(std::string(c.name) + "_fwd", [&] { ops::conv(x, w, b, c.p); });
    timeIt(std::string(c.name) + "_bwd_data", [&] { ops::convBackwardData(dy, w, x.shape(), c.p); });
    timeIt(std::string(c.name) + "_bwd_filter", [&] { ops::convBackwardParams(x, dy, dw, db, 0.0, c.p); });
  }
  {  // same padding with an even kernel: asymmetric, explicit pad path
    ops::ConvParams p = ops::samePadding(std::vector<std::int64_t>{56, 56}, std::vector<std::int64_t>{4, 4}, {1});
    Tensor x = randomGpu(Shape{64, 64, 56, 56}), w = randomGpu(Shape{64, 64, 4, 4});
    timeIt("conv2d_n64_c64_56_k4_same_fwd", [&] { ops::conv(x, w, Tensor(), p); });
  }
  {
    Tensor x = randomGpu(Shape{64, 64, 112, 112});
    timeIt("relu_64x64x112x112", [&] { ops::activation(ops::Activation::Relu, x); });
    timeIt("maxpool2_64x64x112x112", [&] { ops::pool(ops::PoolKind::Max, x, {2}, {}); });
    ops::PoolResult r = ops::pool(ops::PoolKind::Max, x, {2}, {});
    timeIt("maxpool2_bwd_64x64x112x112", [&] { ops::poolBackward(ops::PoolKind::Max, r.y, r.argmax, x.shape(), {2}, {}); });
    Tensor b = randomGpu(Shape{64});
    timeIt("bias_add_64x64x112x112", [&] { ops::biasAdd(x, b); });
  }
  {
    Tensor logits = randomGpu(Shape{1024, 1000}), labels = Tensor::empty(Shape{1024});
    for (int i = 0; i < 1024; ++i) labels.span<float>()[i] = static_cast<float>(i % 1000);
    Tensor lg = labels.to(Device::cuda(0));
    timeIt("softmax_ce_1024x1000", [&] { ops::loss(ops::LossKind::SoftmaxCrossEntropy, logits, lg); });
    timeIt("softmax_1024x1000", [&] { ops::softmax(logits); });
  }
  {
    const std::int64_t n = 25'000'000;
    Tensor p = randomGpu(Shape{n}), g = randomGpu(Shape{n}), m = randomGpu(Shape{n}, 0, 1), v = randomGpu(Shape{n}, 0, 1);
    long long step = 1;
    timeIt("adam_step_25M", [&] { ops::adamStep({1e-3, 0.9, 0.999, 1e-8, 0.0, false, step++}, p, g, m, v); });
    timeIt("sgd_momentum_step_25M", [&] { ops::sgdStep({1e-2, 0.9, 0.0, false}, p, g, m); });
    timeIt("sum_squares_25M", [&] { ops::sumSquares(g); });
  }
  CudaMemoryStats s = cudaMemoryStats(0);
  std::fprintf(stderr, "allocator: peak %.1f MiB, reserved %.1f MiB, %lld cudaMalloc calls\n", s.peakBytes / 1048576.0,
               s.reservedBytes / 1048576.0, static_cast<long long>(s.mallocCount));
  return 0;
}
