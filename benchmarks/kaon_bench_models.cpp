// kaon-bench-models: training-step throughput of the reference CPU models, built with the
// Model API exactly as a user would. A step = forward + loss + backward + SGD-momentum step.
//
//   jet, srcnn : bench_models.hpp (jet CNN, batch 32; SRCNN, batch 8). --no-residual drops
//           SRCNN's slice + add (the earlier benchmark).
//   gan3d : the 3DGAN of configs/calo_gan.yaml (--gan-config), one GanTrainer step: the
//           discriminator on a real and on a generated batch, two generator updates through the
//           frozen discriminator, RMSprop; batch 8. --device cuda runs it on GPU 0, in
//           --precision fp32|tf32|bf16|fp16 (trainer.precision; fp16 with dynamic loss scaling).
//           benchmarks/gpu/bench_torch_3dgan.py is the PyTorch twin. Not part of "all".
//
// Columns: ms/step is the median wall time of the timed steps; cpu ms/step the median process
// CPU time of a step (all threads, user + system), the figure to compare on a busy machine
// (at 1 thread; with 2 threads it includes OpenMP's spin-waiting). GFLOP/s: bench_models.hpp.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include <ctime>

#include "bench_gan3d.hpp"
#include "bench_models.hpp"
#include "kaon/core/runtime.hpp"
#include "kaon/ops/loss.hpp"
#include "kaon/optim/optimizer.hpp"

using namespace kaon;

using bench::median;
using bench::processCpuMs;

int main(int argc, char** argv) {
  CLI::App app{"Kaon CPU training-step benchmark (jet CNN, SRCNN)"};
  std::string which = "all";
  std::int64_t batch = 0;
  int steps = 20, warmup = 3, threads = 0;
  bool noResidual = false;
  std::string ganConfig = KAON_SOURCE_DIR "/configs/calo_gan.yaml", device = "cpu", precision = "fp32";
  app.add_option("--model", which, "jet, srcnn, gan3d or all (jet and srcnn)")
      ->check(CLI::IsMember({"jet", "srcnn", "gan3d", "all"}));
  app.add_option("--gan-config", ganConfig, "gan3d: the trainer.kind: gan config");
  app.add_option("--device", device, "gan3d: cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--precision", precision, "gan3d: fp32, tf32, bf16 or fp16 (all but fp32 need --device cuda)")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16", "fp16"}));
  app.add_option("--batch", batch, "batch size (0: the model's default, jet 32, srcnn 8)");
  app.add_option("--steps", steps, "timed steps");
  app.add_option("--warmup", warmup, "untimed steps first");
  app.add_option("--threads", threads, "CPU threads (0: all cores this process may use)");
  app.add_flag("--no-residual", noResidual, "SRCNN without the residual add of input channel 0");
  CLI11_PARSE(app, argc, argv);
  if (precision != "fp32" && (which != "gan3d" || device != "cuda")) {
    fmt::print(stderr, "--precision {} applies to --model gan3d --device cuda only\n", precision);
    return 2;
  }
  try {
    setNumThreads(threads);
    fmt::print("# kaon  threads {}\n", numThreads());
    fmt::print("{:<8} {:>5} {:>10} {:>10} {:>8} {:>12}  note\n", "model", "batch", "ms/step", "samples/s", "GFLOP/s",
               "cpu ms/step");
    if (which == "gan3d") {
      const std::int64_t n = batch > 0 ? batch : 8;
      bench::GanBenchResult r = bench::benchGan3d(ganConfig, device, n, steps, warmup, precisionFromName(precision));
      const std::string skipped = precision != "fp16" ? std::string()
                                  : fmt::format(" (updates skipped: G {}, D {})", r.skippedGenerator,
                                                r.skippedDiscriminator);
      const std::string memory = r.peakMiB > 0 ? fmt::format(", peak {:.0f} MiB", r.peakMiB) : std::string();
      fmt::print("{:<8} {:>5} {:>10.2f} {:>10.1f} {:>8.1f} {:>12.2f}  3DGAN step on {} {}{}{}\n", "gan3d", n, r.msPerStep,
                 n / (r.msPerStep / 1e3), bench::kGan3dGflopPerSample * n / (r.msPerStep / 1e3), r.cpuMsPerStep, device,
                 precision, memory, skipped);
      return 0;
    }
    std::vector<std::string> models = which == "all" ? std::vector<std::string>{"jet", "srcnn"}
                                                      : std::vector<std::string>{which};
    for (const auto& name : models) {
      std::int64_t n = batch > 0 ? batch : (name == "jet" ? 32 : 8);
      bench::ModelBench b = name == "jet" ? bench::jetModel(n) : bench::srcnnModel(n, !noResidual);
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
