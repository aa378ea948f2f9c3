#pragma once
// The `gan:` section of a run config (trainer.kind: gan), for train::GanTrainer:
//
//   gan:
//     latent_size: 200               # generator input size
//     energy_scale: 0.01             # E (GeV) * scale: latent factor and energy target (3DGAN: E/100)
//     sampling_fraction: 0.02        # ECAL-sum target of a generated shower: fraction * E
//     energy_min: 10                 # GeV, energies of generated showers in training
//     energy_max: 500
//     loss_weights: [2, 0.1, 0.1]    # real/fake BCE, energy MAPE, ECAL-sum MAPE
//     generator_steps: 2             # generator updates per step
//     label_flip: 0.05               # probability of flipping a discriminator label
//     energy_bins: [10, 100, 200, 300, 400, 500]   # GeV, bins of the validation metrics
//     generator: {input_shape: [200], layers: [...]}          # model config (nn::modelFromConfig)
//     discriminator: {input_shape: [1, 25, 25, 25], layers: [...], outputs: [fake, energy, ecal]}
//     generator_optimizer: {type: rmsprop, lr: 0.001}          # optim::optimizerFromConfig
//     discriminator_optimizer: {type: rmsprop, lr: 0.001}
//
// Learning rates are constant (no schedule section for a GAN).
#include "kaon/config/config_node.hpp"
#include "kaon/nn/model.hpp"
#include "kaon/optim/optim_config.hpp"
#include "kaon/train/gan_trainer.hpp"

namespace kaon::train {

struct GanSetup {
  nn::Model generator, discriminator;  // not built
  optim::OptimizerSetup generatorOptimizer, discriminatorOptimizer;  // not attached
  GanOptions options;
};

// node: the `gan:` mapping. Errors are config::ConfigError naming the key.
GanSetup ganFromConfig(config::ConfigNode& node);

}  // namespace kaon::train
