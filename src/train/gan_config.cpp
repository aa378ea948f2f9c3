#include "kaon/train/gan_config.hpp"

#include "kaon/nn/model_config.hpp"

namespace kaon::train {

GanSetup ganFromConfig(config::ConfigNode& node) {
  GanSetup s;
  GanOptions& o = s.options;
  o.latentSize = node.getOr<long long>("latent_size", o.latentSize);
  if (o.latentSize < 1) node.failKey("latent_size", "must be >= 1");
  o.energyScale = node.getOr<double>("energy_scale", o.energyScale);
  if (o.energyScale <= 0) node.failKey("energy_scale", "must be > 0");
  o.samplingFraction = node.getOr<double>("sampling_fraction", o.samplingFraction);
  if (o.samplingFraction <= 0) node.failKey("sampling_fraction", "must be > 0");
  o.energyMin = node.getOr<double>("energy_min", o.energyMin);
  if (o.energyMin <= 0) node.failKey("energy_min", "must be > 0 GeV");
  o.energyMax = node.getOr<double>("energy_max", o.energyMax);
  if (o.energyMax < o.energyMin) node.failKey("energy_max", "must be >= energy_min");
  auto weights = node.getOr<std::vector<double>>("loss_weights", {o.lossWeights.begin(), o.lossWeights.end()});
  if (weights.size() != 3) node.failKey("loss_weights", "needs three values (real/fake, energy, ECAL sum)");
  for (int h = 0; h < 3; ++h) {
    if (weights[h] < 0) node.failKey("loss_weights", "must be >= 0");
    o.lossWeights[h] = weights[h];
  }
  o.generatorSteps = node.getOr<int>("generator_steps", o.generatorSteps);
  if (o.generatorSteps < 1) node.failKey("generator_steps", "must be >= 1");
  o.labelFlip = node.getOr<double>("label_flip", o.labelFlip);
  if (o.labelFlip < 0 || o.labelFlip >= 0.5) node.failKey("label_flip", "must be in [0, 0.5)");
  o.energyBins = node.getOr<std::vector<double>>("energy_bins", o.energyBins);
  if (o.energyBins.size() < 2) node.failKey("energy_bins", "needs at least two edges");
  for (std::size_t b = 1; b < o.energyBins.size(); ++b)
    if (o.energyBins[b] <= o.energyBins[b - 1]) node.failKey("energy_bins", "edges must increase");
  auto generator = node.child("generator");
  s.generator = nn::modelFromConfig(generator);
  auto discriminator = node.child("discriminator");
  s.discriminator = nn::modelFromConfig(discriminator);
  auto genOpt = node.child("generator_optimizer");
  s.generatorOptimizer = optim::optimizerFromConfig(genOpt);
  auto discOpt = node.child("discriminator_optimizer");
  s.discriminatorOptimizer = optim::optimizerFromConfig(discOpt);
  node.finish();
  return s;
}

}  // namespace kaon::train
