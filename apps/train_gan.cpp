#include "train_gan.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <vector>

#include "app_support.hpp"
#include "kaon/comm/device_selection.hpp"
#include "kaon/data/data_config.hpp"
#include "kaon/data/sample_file.hpp"
#include "kaon/data/sampler.hpp"
#include "kaon/train/gan_config.hpp"
#include "kaon/train/gan_trainer.hpp"
#include "kaon/train/run_control.hpp"

namespace kaon::apps {
namespace {

// Energies of generated showers: an even grid over [lo, hi] (every bin of the metrics filled).
Tensor energyGrid(std::int64_t n, double lo, double hi) {
  std::vector<float> e(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    e[i] = static_cast<float>(n > 1 ? lo + (hi - lo) * static_cast<double>(i) / static_cast<double>(n - 1) : lo);
  return Tensor::fromVector(Shape{n}, e);
}

void writeShowers(const GanCli& cli, train::GanTrainer& trainer, const train::GanOptions& o,
                  const Shape& image, std::uint64_t seed) {
  KAON_CHECK(!cli.out.empty(), "--generate needs --out FILE.h5");
  KAON_CHECK(image.rank() == 4 && image[0] == 1, "--generate: showers of shape {} are not [1, X, Y, Z]", image.str());
  const double lo = cli.energyMin > 0 ? cli.energyMin : o.energyMin, hi = cli.energyMax > 0 ? cli.energyMax : o.energyMax;
  KAON_CHECK(lo > 0 && hi >= lo, "--generate: energy range [{}, {}] GeV is invalid", lo, hi);
  const Shape ecal{image[1], image[2], image[3]};
  data::SampleFile file(cli.out, data::SampleFile::Mode::Create);
  file.createDataset("ECAL", ecal, cli.generate, {}, DType::Float32, "generated shower: visible energy per cell",
                     "GeV");
  file.createDataset("energy", Shape{}, cli.generate, {}, DType::Float32, "primary electron energy", "GeV");
  file.setAttribute("generator", std::string("kaon 3DGAN"));
  const std::int64_t chunk = 256;
  Tensor energies = energyGrid(cli.generate, lo, hi);
  for (std::int64_t first = 0; first < cli.generate; first += chunk) {
    const std::int64_t n = std::min(chunk, cli.generate - first);
    Tensor e = energies.slice(first, first + n);
    Tensor showers = trainer.generate(e, seed, first);
    file.writeRows("ECAL", first, showers.reshape(ecal.prepend(n)));
    file.writeRows("energy", first, e);
  }
  file.close();
  spdlog::info("wrote {} generated showers ({} to {} GeV) to {}", cli.generate, lo, hi, cli.out);
}

}  // namespace

int trainGan(config::RunConfig& rc, comm::Communicator& comm, const GanCli& cli) {
  const bool root = comm.rank() == 0;
  config::ConfigNode node(rc.gan, "gan", rc.path);
  train::GanSetup gan = train::ganFromConfig(node);
  const Device device = comm::selectRankDevice(comm::deviceRequestFromName(rc.device), comm, {rc.gpuShare});
  // Distinct seeds: the two networks must not start from correlated draws.
  gan.generator.build(DType::Float32, rc.seed, device);
  gan.discriminator.build(DType::Float32, data::splitmix64(rc.seed ^ 0xD15Cull), device);
  if (root) {
    std::fputs(("generator\n" + gan.generator.summary()).c_str(), stdout);
    std::fputs(("discriminator\n" + gan.discriminator.summary()).c_str(), stdout);
  }
  if (cli.summaryOnly) return 0;
  gan.generatorOptimizer.optimizer->attach(gan.generator.parameters(), gan.generator.gradients(),
                                           gan.generator.trainableRanges());
  gan.discriminatorOptimizer.optimizer->attach(gan.discriminator.parameters(), gan.discriminator.gradients(),
                                               gan.discriminator.trainableRanges());
  config::ConfigNode dataNode(rc.data, "data", rc.path);
  data::DatasetSplit data = data::datasetsFromConfig(dataNode, {rc.seed, rc.trainer.checkpointDir});
  rc.trainer.prefetch = data.prefetch;
  rc.trainer.clipNorm = std::max(gan.generatorOptimizer.clipNorm, gan.discriminatorOptimizer.clipNorm);
  rc.trainer.configText = rc.text;
  rc.trainer.afterStep = faultInjectionHook(comm.rank());
  const double genLr = gan.generatorOptimizer.baseLr, discLr = gan.discriminatorOptimizer.baseLr;
  train::GanTrainer trainer(gan.generator, *gan.generatorOptimizer.optimizer, gan.discriminator,
                            *gan.discriminatorOptimizer.optimizer, [genLr](std::int64_t) { return genLr; },
                            [discLr](std::int64_t) { return discLr; }, *data.train, data.validation.get(), rc.trainer,
                            gan.options, &comm);
  std::string resumeFrom = resolveResume(rc.resume, rc.trainer.checkpointDir);
  if (!resumeFrom.empty()) trainer.resumeFrom(resumeFrom);
  if (cli.generate > 0) {
    KAON_CHECK(!resumeFrom.empty(), "--generate: no checkpoint to generate from (trainer.checkpoint.dir '{}')",
               rc.trainer.checkpointDir);
    if (root) writeShowers(cli, trainer, gan.options, gan.generator.outputShapes()[0], rc.seed);
    return 0;
  }
  spdlog::info("GAN: {} training showers, {} validation; {} rank(s) x batch {}; generator {} ({} parameters), "
               "discriminator {} ({} parameters)",
               data.train->size(), data.validation ? data.validation->size() : 0, comm.size(), rc.trainer.batchSize,
               gan.generatorOptimizer.optimizer->name(), gan.generator.parameterCount(),
               gan.discriminatorOptimizer.optimizer->name(), gan.discriminator.parameterCount());
  trainer.fit();
  if (trainer.interrupted()) return train::kExitInterrupted;
  if (!rc.trainer.checkpointDir.empty()) spdlog::info("checkpoint: {}", trainer.checkpointPath());
  return 0;
}

}  // namespace kaon::apps
