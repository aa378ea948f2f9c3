// kaon-bench-gpu-models: training-step time of the reference models (bench_models.hpp) on one
// GPU for each precision. A step = forward + loss + backward + SGD-momentum step, the batch
// already on the device (as in the PyTorch twin, benchmarks/gpu/bench_torch_models.py); fp16
// includes the loss scaler's inf/nan check. Prints CSV: model, variant, batch, median ms/step,
// TFLOP/s (FLOPs counted as in bench_models.hpp), peak MiB held by the caching allocator, and
// a breakdown from extra steps synchronised between phases: forward + loss, backward (with
// the fp32 gradient hand-back), optimizer (with the fp16 inf/nan check).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <cmath>
#include <vector>

#include "bench_models.hpp"
#include "kaon/core/precision.hpp"
#include "kaon/core/runtime.hpp"
#include "kaon/ops/elementwise.hpp"
#include "kaon/ops/loss.hpp"
#include "kaon/optim/optimizer.hpp"
#include "kaon/train/loss_scaler.hpp"

using namespace kaon;

using bench::median;

namespace {

struct Result {
  double ms, tflops, peakMiB, forwardMs, backwardMs, optimizerMs;
};

Result run(bench::ModelBench& b, Precision precision, int warmup, int steps) {
  const Device gpu = Device::cuda(0);
  b.model.setPrecision(precision);
  optim::Sgd sgd(optim::SgdOptions{.momentum = 0.9});
  sgd.attach(b.model.parameters(), b.model.gradients(), b.model.trainableRanges());
  Tensor x = b.x.to(gpu), y = b.y.to(gpu);
  std::unique_ptr<train::LossScaler> scaler;
  if (precision == Precision::Fp16) scaler = std::make_unique<train::LossScaler>();
  std::vector<double> ms, fwd, bwd, opt;
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); };
  // KAON_PROFILE_LAST_STEP=1: the last unsynchronised timed step is bracketed for a profiler
  // started with --profile-from-start off (ncu), after the algorithm search.
  const char* profileEnv = std::getenv("KAON_PROFILE_LAST_STEP");
  const bool profileLast = profileEnv && std::string(profileEnv) == "1";
  for (int i = 0; i < warmup + 2 * steps; ++i) {
    const bool phases = i >= warmup + steps;  // the second half times the phases apart
    const bool profiled = profileLast && i + 1 == warmup + steps;
    if (profiled) cudaProfilerRange(true);
    if (i == warmup) {
      // Steady-state peak: after the warm-up, so the cuDNN algorithm search's scratch (up to the
      // workspace bound) does not count.
      cudaSynchronize(0);
      cudaResetPeakMemory(0);
    }
    auto t0 = Clock::now();
    if (scaler) b.model.setGradientScale(scaler->scale());
    b.model.zeroGrad();
    Tensor out = b.model.forward(x, true);
    ops::LossResult l = ops::loss(b.loss, out, y);  // reads the loss value: one sync per step
    if (phases) fwd.push_back(since(t0));
    auto t1 = Clock::now();
    b.model.backward(l.grad);
    if (phases) cudaSynchronize(0), bwd.push_back(since(t1));
    auto t2 = Clock::now();
    if (!scaler || scaler->update(std::isfinite(ops::sumSquares(b.model.gradients())))) sgd.step(1e-3);
    cudaSynchronize(0);
    if (phases) opt.push_back(since(t2));
    if (i >= warmup && !phases) ms.push_back(since(t0));
    if (profiled) cudaProfilerRange(false);
  }
  const double med = median(ms);
  return {med, b.flops / (med / 1e3) / 1e12, static_cast<double>(cudaMemoryStats(0).peakBytes) / (1 << 20),
          median(fwd), median(bwd), median(opt)};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Kaon GPU training-step benchmark (jet CNN, SRCNN) per precision"};
  std::string which = "all";
  std::vector<std::string> precisions{"fp32", "tf32", "bf16", "fp16"};
  int steps = 30, warmup = 5;
  std::int64_t jetBatch = 256, srcnnBatch = 64;
  app.add_option("--model", which, "jet, srcnn or all")->check(CLI::IsMember({"jet", "srcnn", "all"}));
  app.add_option("--precision", precisions, "precisions to time (fp32 tf32 bf16 fp16)");
  app.add_option("--steps", steps, "timed steps");
  app.add_option("--warmup", warmup, "untimed steps first (cuDNN algorithm search, allocator)");
  app.add_option("--jet-batch", jetBatch, "jet CNN batch");
  app.add_option("--srcnn-batch", srcnnBatch, "SRCNN batch");
  CLI11_PARSE(app, argc, argv);
  try {
    KAON_CHECK(cudaBuilt() && cudaDeviceCount() > 0, "kaon-bench-gpu-models needs a CUDA device");
    fmt::print("model,variant,batch,ms_step,tflops,peak_mib,fwd_ms,bwd_ms,opt_ms\n");
    std::vector<std::string> models = which == "all" ? std::vector<std::string>{"jet", "srcnn"}
                                                      : std::vector<std::string>{which};
    for (const auto& name : models)
      for (const auto& pname : precisions) {
        Precision p = precisionFromName(pname);
        bench::ModelBench b = name == "jet" ? bench::jetModel(jetBatch, Device::cuda(0))
                                            : bench::srcnnModel(srcnnBatch, true, Device::cuda(0));
        Result r = run(b, p, warmup, steps);
        fmt::print("{},kaon {},{},{:.3f},{:.2f},{:.0f},{:.3f},{:.3f},{:.3f}\n", name, pname, b.x.dim(0), r.ms, r.tflops,
                   r.peakMiB, r.forwardMs, r.backwardMs, r.optimizerMs);
        std::fflush(stdout);
        cudaEmptyCache(0);
      }
  } catch (const std::exception& e) {
    fmt::print(stderr, "kaon-bench-gpu-models: {}\n", e.what());
    return 1;
  }
  return 0;
}
