#pragma once
// A tiny 3DGAN for the GAN tests: showers of 4 x 4 x 4 cells, latent 4, the same layer types as
// configs/calo_gan.yaml (dense, reshape, conv3d, batch norm, upsampling, dropout, pooling,
// three discriminator heads with the ECAL sum layer), built through the gan: config section.
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <memory>
#include <string>

#include "kaon/data/calo_showers.hpp"
#include "kaon/data/in_memory_dataset.hpp"
#include "kaon/optim/optimizer.hpp"
#include "kaon/train/gan_config.hpp"
#include "kaon/train/gan_trainer.hpp"

namespace kaon::train::gantest {

struct TinyGanOptions {
  bool batchNorm = true, dropout = true;
  std::string outputActivation = "relu";
};

inline std::string tinyGanYaml(const TinyGanOptions& o) {
  const std::string bn = o.batchNorm ? "    - {type: batch_norm}\n" : "";
  const std::string drop = o.dropout ? "    - {type: dropout, rate: 0.2}\n" : "";
  return "latent_size: 4\nenergy_min: 10\nenergy_max: 100\nenergy_bins: [10, 50, 100]\nlabel_flip: 0.1\n"
         "generator:\n  input_shape: [4]\n  layers:\n"
         "    - {type: dense, units: 16}\n"
         "    - {type: reshape, shape: [2, 2, 2, 2]}\n"
         "    - {type: conv3d, filters: 3, kernel: 2, padding: same, activation: leaky_relu}\n" +
         bn +
         "    - {type: upsample3d, size: [2, 2, 2]}\n"
         "    - {type: zero_pad3d, padding: [[1, 0], [0, 1], [1, 0]]}\n"
         "    - {type: conv3d, filters: 1, kernel: 2, activation: " + o.outputActivation + "}\n"
         "discriminator:\n  inputs: [{name: image, shape: [1, 4, 4, 4]}]\n  layers:\n"
         "    - {type: conv3d, filters: 3, kernel: 2, padding: same, activation: leaky_relu}\n" +
         drop + bn +
         "    - {type: avg_pool3d, pool: 2}\n"
         "    - {type: flatten, name: features}\n"
         "    - {type: dense, units: 1, name: fake}\n"
         "    - {type: dense, units: 1, name: energy, inputs: [features]}\n"
         "    - {type: sum, axes: [2, 3, 4], name: ecal, inputs: [image]}\n"
         "  outputs: [fake, energy, ecal]\n"
         "generator_optimizer: {type: rmsprop, lr: 0.001}\n"
         "discriminator_optimizer: {type: adam, lr: 0.001}\n";
}

// Built (dtype, on `device`) and with attached optimizers.
struct TinyGan {
  GanSetup setup;
  TinyGan(const TinyGanOptions& o, DType dtype = DType::Float32, Device device = Device::cpu()) {
    config::ConfigNode node(YAML::Load(tinyGanYaml(o)), "gan", "tiny");
    setup = ganFromConfig(node);
    setup.generator.build(dtype, 5, device);
    setup.discriminator.build(dtype, 6, device);
    for (auto [m, opt] : {std::pair{&setup.generator, setup.generatorOptimizer.optimizer.get()},
                          {&setup.discriminator, setup.discriminatorOptimizer.optimizer.get()}})
      opt->attach(m->parameters(), m->gradients(), m->trainableRanges());
  }
  GanTrainer trainer(const data::Dataset& train, const data::Dataset* validation, TrainerOptions options,
                     comm::Communicator* comm = nullptr) {
    return GanTrainer(setup.generator, *setup.generatorOptimizer.optimizer, setup.discriminator,
                      *setup.discriminatorOptimizer.optimizer, [](std::int64_t) { return 0.001; },
                      [](std::int64_t s) { return 0.001 * (1.0 + 0.1 * static_cast<double>(s % 2)); }, train,
                      validation, std::move(options), setup.options, comm);
  }
};

// n synthetic showers of 4^3 cells, 10-100 GeV: inputs [n, 1, 4, 4, 4], targets the energy.
inline std::shared_ptr<data::InMemoryDataset> tinyShowers(std::int64_t n, std::uint64_t seed) {
  data::CaloShowerOptions o;
  o.samples = n;
  o.cells = 4;
  o.energyMin = 10;
  o.energyMax = 100;
  o.seed = seed;
  data::CaloShowers c = data::generateCaloShowers(o);
  return std::make_shared<data::InMemoryDataset>(std::vector<Tensor>{c.ecal.reshape(Shape{n, 1, 4, 4, 4})},
                                                 std::vector<Tensor>{c.energy});
}

// `steps` training steps on the first n showers of `data` (one batch, seen again each step). The
// regression heads improve steadily, unlike the adversarial ones: the discriminator's energy
// error on real showers (real[1]) and the generator's ECAL-sum error (generator[2]). fp32 on
// the CPU, tiny GAN, n 32, 30 steps, dataset seeds 1-3: real[1] 93 -> 45..57 (x0.48..0.60),
// generator[2] 2037 -> 474 (x0.23); the tests ask for x0.8 and x0.5.
struct LossTrend {
  GanStepLosses first, last;
  bool allFinite = true;
};
inline LossTrend trainOnOneBatch(GanTrainer& trainer, const data::Dataset& data, std::int64_t n, int steps) {
  data::Batch batch = data.allocateBatch(n);
  std::vector<std::int64_t> idx(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) idx[i] = i;
  data.read(idx, batch);
  LossTrend t;
  for (int s = 0; s < steps; ++s) {
    GanStepLosses l = trainer.trainStep(batch, s);
    for (const auto* heads : {&l.real, &l.fake, &l.generator})
      for (double v : *heads) t.allFinite = t.allFinite && std::isfinite(v);
    (s == 0 ? t.first : t.last) = l;
  }
  return t;
}

inline TrainerOptions tinyOptions(std::int64_t batch, int epochs = 1) {
  TrainerOptions t;
  t.epochs = epochs;
  t.batchSize = batch;
  t.progress = false;
  t.seed = 9;
  t.prefetch = 0;
  t.configText = "tiny gan";
  return t;
}

}  // namespace kaon::train::gantest
