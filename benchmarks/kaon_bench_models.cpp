// kaon-bench-models: training-step throughput of the reference CPU models, built with the
// Model API exactly as a user would. A step = forward + loss + backward + SGD-momentum step.
//
//   jet   : input 3x64x64; 3x[conv 3x3 128 same + ReLU + maxpool 2] -> flatten -> dense 512 ReLU
//           -> dense 2; softmax cross-entropy; batch 32.
//   srcnn : input 2x64x64; conv 9x9 64 same -> ReLU -> conv 3x3 32 same -> ReLU -> conv 5x5 1
//           same, plus input channel 0 (slice + add layers, as configs/srcnn_weather.yaml);
//           MSE; batch 8. --no-residual drops the slice + add (the earlier benchmark).
//   gan3d : the 3DGAN of configs/calo_gan.yaml (--gan-config), one GanTrainer step: the
//           discriminator on a real and on a generated batch, two generator updates through the
//           frozen discriminator, RMSprop; batch 8. --device cuda runs it on GPU 0.
//           benchmarks/gpu/bench_torch_3dgan.py is the PyTorch twin. Not part of "all".
//
// Columns: ms/step is the median wall time of the timed steps; cpu ms/step the median process
// CPU time of a step (all threads, user + system), the figure to compare on a busy machine
// (at 1 thread; with 2 threads it includes OpenMP's spin-waiting).
// GFLOP/s counts conv and dense multiply-adds (2 FLOP each) of forward, backward-filter and
// backward-data (none for the first layer, whose input needs no gradient); scripts/
// bench_pytorch_cpu.py counts the same way.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include <ctime>

#include "bench_gan3d.hpp"
#include "kaon/core/runtime.hpp"

#include "kaon/nn/layers/add.hpp"
#include "kaon/nn/layers/conv.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/pool.hpp"
#include "kaon/nn/layers/reshape.hpp"
#include "kaon/nn/layers/slice.hpp"
#include "kaon/nn/model.hpp"
#include "kaon/ops/loss.hpp"
#include "kaon/optim/optimizer.hpp"

using namespace kaon;

namespace {

struct Bench {
  nn::Model model;
  Tensor x, y;
  ops::LossKind loss;
  double flops = 0;  // per step
  std::string note;
};

double convFlops(std::int64_t n, std::int64_t c, std::int64_t oc, std::int64_t k, std::int64_t p) {
  return 2.0 * n * oc * c * k * p;
}

Tensor randomTensor(const Shape& s, std::uint64_t seed) {
  Tensor t = Tensor::empty(s);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  for (float& v : t.span<float>()) v = d(rng);
  return t;
}

nn::ConvOptions conv2d(std::int64_t filters, int k, ops::Activation act) {
  return nn::ConvOptions{.spatialRank = 2, .filters = filters, .kernel = {k}, .samePadding = true, .activation = act};
}

Bench jet(std::int64_t batch) {
  Bench b;
  b.model.addInput("x", Shape{3, 64, 64});
  for (int i = 1; i <= 3; ++i) {
    b.model.add(std::make_unique<nn::Conv>(fmt::format("conv{}", i), conv2d(128, 3, ops::Activation::Relu)));
    b.model.add(std::make_unique<nn::Pool>(fmt::format("pool{}", i), nn::PoolOptions{.window = {2}}));
  }
  b.model.add(std::make_unique<nn::Reshape>("flatten", std::vector<std::int64_t>{}));
  b.model.add(std::make_unique<nn::Dense>("fc1", nn::DenseOptions{512, ops::Activation::Relu}));
  b.model.add(std::make_unique<nn::Dense>("fc2", nn::DenseOptions{2}));
  b.model.build(DType::Float32, 1);
  b.x = randomTensor(Shape{batch, 3, 64, 64}, 2);
  b.y = Tensor::empty(Shape{batch});
  for (std::int64_t i = 0; i < batch; ++i) b.y.span<float>()[i] = static_cast<float>(i % 2);
  b.loss = ops::LossKind::SoftmaxCrossEntropy;
  double f0 = convFlops(batch, 3, 128, 9, 64 * 64), f1 = convFlops(batch, 128, 128, 9, 32 * 32),
         f2 = convFlops(batch, 128, 128, 9, 16 * 16), f3 = 2.0 * batch * 8192 * 512, f4 = 2.0 * batch * 512 * 2;
  b.flops = 2 * f0 + 3 * (f1 + f2 + f3 + f4);
  return b;
}

Bench srcnn(std::int64_t batch, bool residual) {
  Bench b;
  b.model.addInput("x", Shape{2, 64, 64});
  b.model.add(std::make_unique<nn::Conv>("conv1", conv2d(64, 9, ops::Activation::Relu)), {"x"});
  b.model.add(std::make_unique<nn::Conv>("conv2", conv2d(32, 3, ops::Activation::Relu)));
  b.model.add(std::make_unique<nn::Conv>("conv3", conv2d(1, 5, ops::Activation::Identity)));
  if (residual) {
    b.model.add(std::make_unique<nn::Slice>("coarse", 1, 0, 1), {"x"});
    b.model.add(std::make_unique<nn::Add>("field"), {"conv3", "coarse"});
  }
  b.model.build(DType::Float32, 1);
  b.x = randomTensor(Shape{batch, 2, 64, 64}, 2);
  b.y = randomTensor(Shape{batch, 1, 64, 64}, 3);
  b.loss = ops::LossKind::MeanSquaredError;
  const std::int64_t p = 64 * 64;
  b.flops = 2 * convFlops(batch, 2, 64, 81, p) + 3 * (convFlops(batch, 64, 32, 9, p) + convFlops(batch, 32, 1, 25, p));
  b.note = residual ? "with residual" : "no residual add";
  return b;
}

double processCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Kaon CPU training-step benchmark (jet CNN, SRCNN)"};
  std::string which = "all";
  std::int64_t batch = 0;
  int steps = 20, warmup = 3, threads = 0;
  bool noResidual = false;
  std::string ganConfig = KAON_SOURCE_DIR "/configs/calo_gan.yaml", device = "cpu";
  app.add_option("--model", which, "jet, srcnn, gan3d or all (jet and srcnn)")
      ->check(CLI::IsMember({"jet", "srcnn", "gan3d", "all"}));
  app.add_option("--gan-config", ganConfig, "gan3d: the trainer.kind: gan config");
  app.add_option("--device", device, "gan3d: cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--batch", batch, "batch size (0: the model's default, jet 32, srcnn 8)");
  app.add_option("--steps", steps, "timed steps");
  app.add_option("--warmup", warmup, "untimed steps first");
  app.add_option("--threads", threads, "CPU threads (0: all cores this process may use)");
  app.add_flag("--no-residual", noResidual, "SRCNN without the residual add of input channel 0");
  CLI11_PARSE(app, argc, argv);
  try {
    setNumThreads(threads);
    fmt::print("# kaon  threads {}\n", numThreads());
    fmt::print("{:<8} {:>5} {:>10} {:>10} {:>8} {:>12}  note\n", "model", "batch", "ms/step", "samples/s", "GFLOP/s",
               "cpu ms/step");
    if (which == "gan3d") {
      const std::int64_t n = batch > 0 ? batch : 8;
      bench::GanBenchResult r = bench::benchGan3d(ganConfig, device, n, steps, warmup);
      fmt::print("{:<8} {:>5} {:>10.2f} {:>10.1f} {:>8} {:>12.2f}  3DGAN step on {}\n", "gan3d", n, r.msPerStep,
                 n / (r.msPerStep / 1e3), "n/a", r.cpuMsPerStep, device);
      return 0;
    }
    std::vector<std::string> models = which == "all" ? std::vector<std::string>{"jet", "srcnn"}
                                                      : std::vector<std::string>{which};
    for (const auto& name : models) {
      std::int64_t n = batch > 0 ? batch : (name == "jet" ? 32 : 8);
      Bench b = name == "jet" ? jet(n) : srcnn(n, !noResidual);
      optim::Sgd sgd(optim::SgdOptions{.momentum = 0.9});
      sgd.attach(b.model.parameters(), b.model.gradients(), b.model.trainableRanges());
      std::vector<double> ms, cpuMs;
      for (int i = 0; i < warmup + steps; ++i) {
        const double c0 = processCpuMs();
        auto t0 = std::chrono::steady_clock::now();
        b.model.zeroGrad();
        Tensor out = b.model.forward(b.x, true);
        ops::LossResult l = ops::loss(b.loss, out, b.y);
        b.model.backward(l.grad);
        sgd.step(1e-3);
        auto t1 = std::chrono::steady_clock::now();
        const double c1 = processCpuMs();
        if (i >= warmup) {
          ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
          cpuMs.push_back(c1 - c0);
        }
      }
      const double med = median(ms);
      fmt::print("{:<8} {:>5} {:>10.2f} {:>10.1f} {:>8.1f} {:>12.2f}  {}\n", name, n, med, n / (med / 1e3),
                 b.flops / (med / 1e3) / 1e9, median(cpuMs), b.note);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "kaon-bench-models: {}\n", e.what());
    return 1;
  }
  return 0;
}
