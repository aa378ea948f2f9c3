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
};

// One step = discriminator on a real batch, on a generated batch, and two generator updates
// through the frozen discriminator (train::GanTrainer::trainStep). device: "cpu" or "cuda";
// precision: trainer.precision of both networks (anything but fp32 needs cuda).
GanBenchResult benchGan3d(const std::string& configPath, const std::string& device, std::int64_t batch, int steps,
                          int warmup, Precision precision = Precision::Fp32);

}  // namespace kaon::bench
