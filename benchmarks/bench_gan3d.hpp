#pragma once
// The 3DGAN training step of configs/calo_gan.yaml for kaon-bench-models (--model gan3d).
#include <cstdint>
#include <string>

#include "kaon/core/precision.hpp"

namespace kaon::bench {

struct GanBenchResult {
  double msPerStep = 0, cpuMsPerStep = 0;  // medians over the timed steps
  // fp16: updates skipped by the loss scalers (warm-up included) of the generator, discriminator.
  std::int64_t skippedGenerator = 0, skippedDiscriminator = 0;
  double peakMiB = 0;  // cuda: peak device memory of the timed steps (after the warm-up's search)
};

// Multiply-adds x 2 of one step per sample: discriminator forward 1.19 GFLOP, generator forward
// 0.51; the step runs D forward+backward on real and on fake data (after a G forward), then
// twice G forward, D forward, D data gradient and G backward (docs/benchmarks.md section 7).
inline constexpr double kGan3dGflopPerSample = 3 * 1.19 + (0.51 + 3 * 1.19) + 2 * (0.51 + 2 * 1.19 + 2 * 0.51);

// One step = discriminator on a real batch, on a generated batch, and two generator updates
// through the frozen discriminator (train::GanTrainer::trainStep). device: "cpu" or "cuda";
// precision: trainer.precision of both networks (anything but fp32 needs cuda).
GanBenchResult benchGan3d(const std::string& configPath, const std::string& device, std::int64_t batch, int steps,
                          int warmup, Precision precision = Precision::Fp32);

}  // namespace kaon::bench
