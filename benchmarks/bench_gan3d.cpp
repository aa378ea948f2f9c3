#include "bench_gan3d.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_models.hpp"

#include "kaon/config/run_config.hpp"
#include "kaon/core/runtime.hpp"
#include "kaon/data/calo_showers.hpp"
#include "kaon/data/in_memory_dataset.hpp"
#include "kaon/train/gan_config.hpp"

namespace kaon::bench {

GanBenchResult benchGan3d(const std::string& configPath, const std::string& deviceName, std::int64_t batch, int steps,
                          int warmup, Precision precision) {
  config::RunConfig rc = config::loadRunConfig(configPath);
  KAON_CHECK(rc.kind == "gan", "{}: not a trainer.kind: gan config", configPath);
  config::ConfigNode node(rc.gan, "gan", rc.path);
  train::GanSetup gan = train::ganFromConfig(node);
  const Device device = deviceName == "cuda" ? Device::cuda(0) : Device::cpu();
  KAON_CHECK(!device.isCuda() || cudaDeviceCount() > 0, "--device cuda: no CUDA device");
  gan.generator.build(DType::Float32, 1, device);
  gan.discriminator.build(DType::Float32, 2, device);
  gan.generatorOptimizer.optimizer->attach(gan.generator.parameters(), gan.generator.gradients(),
                                           gan.generator.trainableRanges());
  gan.discriminatorOptimizer.optimizer->attach(gan.discriminator.parameters(), gan.discriminator.gradients(),
                                               gan.discriminator.trainableRanges());
  // Real showers of the config's geometry (the images the discriminator reads).
  const Shape image = gan.discriminator.inputShapes()[0];
  data::CaloShowerOptions o;
  o.samples = batch;
  o.cells = static_cast<int>(image[1]);
  data::CaloShowers showers = data::generateCaloShowers(o);
  data::InMemoryDataset real({showers.ecal.reshape(image.prepend(batch))}, {showers.energy});
  train::TrainerOptions t;
  t.batchSize = batch;
  t.progress = false;
  t.precision = precision;
  // fp16: the heads' MAPE gradients (a few units per sample) overflow 2^16; start lower so the
  // warm-up steps absorb the back-off (skipped updates are counted and printed).
  t.lossScale.initialScale = 1024;
  const double gLr = gan.generatorOptimizer.baseLr, dLr = gan.discriminatorOptimizer.baseLr;
  train::GanTrainer trainer(gan.generator, *gan.generatorOptimizer.optimizer, gan.discriminator,
                            *gan.discriminatorOptimizer.optimizer, [gLr](std::int64_t) { return gLr; },
                            [dLr](std::int64_t) { return dLr; }, real, nullptr, t, gan.options);
  data::Batch b = real.allocateBatch(batch);
  std::vector<std::int64_t> idx(static_cast<std::size_t>(batch));
  for (std::int64_t i = 0; i < batch; ++i) idx[i] = i;
  real.read(idx, b);
  std::vector<double> ms, cpu;
  // KAON_PROFILE_LAST_STEP=1: the last step only is bracketed for a profiler started with
  // --profile-from-start off (e.g. `ncu --profile-from-start off`), after the tuning is done.
  const char* profileEnv = std::getenv("KAON_PROFILE_LAST_STEP");
  const bool profileLast = device.isCuda() && profileEnv && std::string(profileEnv) == "1";
  for (int i = 0; i < warmup + steps; ++i) {
    const bool profiled = profileLast && i + 1 == warmup + steps;
    if (i == warmup && device.isCuda()) {  // the peak of the timed steps, not of the search
      cudaSynchronize(device.index);
      cudaResetPeakMemory(device.index);
    }
    if (profiled) cudaProfilerRange(true);
    const double c0 = processCpuMs();
    auto t0 = std::chrono::steady_clock::now();
    trainer.trainStep(b, i);
    if (device.isCuda()) cudaSynchronize(device.index);
    auto t1 = std::chrono::steady_clock::now();
    if (profiled) cudaProfilerRange(false);
    if (i >= warmup) {
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      cpu.push_back(processCpuMs() - c0);
    }
  }
  GanBenchResult r{median(ms), median(cpu)};
  if (device.isCuda()) r.peakMiB = static_cast<double>(cudaMemoryStats(device.index).peakBytes) / (1 << 20);
  if (const train::LossScaler* s = trainer.generatorLossScaler()) r.skippedGenerator = s->skippedSteps();
  if (const train::LossScaler* s = trainer.discriminatorLossScaler()) r.skippedDiscriminator = s->skippedSteps();
  return r;
}

}  // namespace kaon::bench
