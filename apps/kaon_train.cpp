// kaon-train: trains a model described by a YAML config.
//   kaon-train configs/jet_cnn.yaml --set trainer.epochs=3 --set optimizer.lr=0.01
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "app_support.hpp"
#include "train_gan.hpp"
#include "kaon/comm/communicator.hpp"
#include "kaon/comm/device_selection.hpp"
#include "kaon/config/run_config.hpp"
#include "kaon/core/runtime.hpp"
#include "kaon/data/data_config.hpp"
#include "kaon/nn/model_config.hpp"
#include "kaon/optim/optim_config.hpp"
#include "kaon/train/async_trainer.hpp"
#include "kaon/train/run_control.hpp"
#include "kaon/train/trainer.hpp"

namespace {

int run(int argc, char** argv) {
  CLI::App app{"Train a Kaon model from a YAML config"};
  std::string configPath;
  std::vector<std::string> overrides;
  bool summaryOnly = false;
  app.add_option("config", configPath, "YAML run config (version: 1)")->required()->check(CLI::ExistingFile);
  app.add_option("--set", overrides, "Override a config key: --set trainer.epochs=3 (repeatable)");
  app.add_flag("--summary", summaryOnly, "Build the model, print its summary and exit");
  std::string timeline;
  app.add_option("--timeline", timeline,
                 "Write a Chrome/Perfetto trace per rank (compute, data wait, each gradient bucket) to this path");
  kaon::apps::GanCli gan;
  app.add_option("--generate", gan.generate,
                 "trainer.kind: gan: write this many generated showers (from the checkpoint) to --out and exit");
  app.add_option("--out", gan.out, "HDF5 file for --generate (datasets ECAL [N, X, Y, Z] and energy [N])");
  app.add_option("--energy-min", gan.energyMin, "--generate: lowest energy (GeV; default gan.energy_min)");
  app.add_option("--energy-max", gan.energyMax, "--generate: highest energy (GeV; default gan.energy_max)");
  CLI11_PARSE(app, argc, argv);

  kaon::config::RunConfig rc = kaon::config::loadRunConfig(configPath, overrides);
  spdlog::set_level(spdlog::level::from_str(rc.logLevel));
  std::unique_ptr<kaon::comm::Communicator> comm = kaon::comm::makeDefaultCommunicator();
  const bool root = comm->rank() == 0;
  if (!root) spdlog::set_level(spdlog::level::warn);
  // Default threads: the cores of this node shared among its ranks.
  kaon::setNumThreads(rc.threads > 0 ? rc.threads : kaon::apps::defaultThreadsPerRank(*comm));
  // sync: batch_size is the global batch, split across ranks; downpour/easgd: each worker's batch.
  rc.trainer.batchSize = rc.mode == "sync" ? kaon::config::perRankBatch(rc, comm->size()) : rc.batch;
  gan.summaryOnly = summaryOnly;
  if (rc.kind == "gan") return kaon::apps::trainGan(rc, *comm, gan);
  KAON_CHECK(gan.generate == 0 && gan.out.empty(), "--generate/--out apply to trainer.kind: gan configs only");

  kaon::config::ConfigNode modelNode(rc.model, "model", rc.path);
  kaon::nn::Model model = kaon::nn::modelFromConfig(modelNode);
  // device: cuda gives each rank GPU (node-local rank % GPUs); collective, so a misfit (no GPU,
  // two ranks on one GPU) is reported by every rank together.
  const kaon::Device device =
      kaon::comm::selectRankDevice(kaon::comm::deviceRequestFromName(rc.device), *comm, {rc.gpuShare});
  model.build(kaon::DType::Float32, rc.seed, device);
  if (device.isCuda()) spdlog::info("device: {} (rank 0; one GPU per rank by node-local rank)", device.str());
  if (root) std::fputs(model.summary().c_str(), stdout);
  if (summaryOnly) return 0;

  kaon::config::ConfigNode optimizerNode(rc.optimizer, "optimizer", rc.path);
  kaon::optim::OptimizerSetup opt = kaon::optim::optimizerFromConfig(optimizerNode);
  kaon::config::ConfigNode dataNode(rc.data, "data", rc.path);
  kaon::data::DatasetSplit data = kaon::data::datasetsFromConfig(dataNode, {rc.seed, rc.trainer.checkpointDir});
  rc.trainer.prefetch = data.prefetch;

  rc.trainer.clipNorm = opt.clipNorm;
  rc.trainer.configText = rc.text;
  rc.trainer.timelinePath = timeline;
  rc.trainer.afterStep = kaon::apps::faultInjectionHook(comm->rank());
  std::int64_t shard = (data.train->size() + comm->size() - 1) / comm->size();  // the sampler pads shards
  std::int64_t perEpoch = rc.trainer.dropLastBatch ? shard / rc.trainer.batchSize
                                                   : (shard + rc.trainer.batchSize - 1) / rc.trainer.batchSize;
  std::unique_ptr<kaon::config::ConfigNode> scheduleNode;
  if (rc.schedule.IsDefined() && !rc.schedule.IsNull()) scheduleNode = std::make_unique<kaon::config::ConfigNode>(rc.schedule, "schedule", rc.path);
  // Steps per epoch count this rank's batches over its shard of the data.
  std::shared_ptr<kaon::optim::Schedule> schedule =
      kaon::optim::scheduleFromConfig(scheduleNode.get(), opt.baseLr, perEpoch, perEpoch * rc.trainer.epochs);
  if (rc.weakScaling && comm->size() > 1) {
    auto rule = rc.lrScaling == "linear" ? kaon::optim::LrScaling::Linear
                : rc.lrScaling == "sqrt" ? kaon::optim::LrScaling::Sqrt
                                         : kaon::optim::LrScaling::None;
    double factor = kaon::optim::lrScaleFactor(rule, comm->size());
    schedule = kaon::optim::scaled(kaon::optim::scheduleFromConfig(scheduleNode.get(), opt.baseLr, perEpoch,
                                                                   perEpoch * rc.trainer.epochs),
                                   factor);
    spdlog::info("weak scaling: {} ranks x batch {}, learning rate x{:.3g} ({})", comm->size(), rc.batch, factor,
                 rc.lrScaling);
  }
  opt.optimizer->attach(model.parameters(), model.gradients(), model.trainableRanges());

  spdlog::info("data: {} training samples ({}), {} validation; {} rank(s) x batch {}, {} steps per epoch; "
               "optimizer {} ({})",
               data.train->size(), data.train->describe(), data.validation ? data.validation->size() : 0,
               comm->size(), rc.trainer.batchSize, perEpoch, opt.optimizer->name(), schedule->describe());
  auto lr = [schedule](std::int64_t step) { return schedule->lr(step); };
  std::string resumeFrom = kaon::apps::resolveResume(rc.resume, rc.trainer.checkpointDir);
  if (rc.mode == "downpour" || (rc.mode == "easgd" && rc.easgdAsynchronous)) {
    // Master/worker modes: rank 0 holds the master weights; batch sizes are per worker.
    kaon::train::AsyncTrainer trainer(model, *opt.optimizer, lr, *data.train, data.validation.get(), rc.trainer,
                                      rc.async, *comm);
    if (!resumeFrom.empty()) trainer.resumeFrom(resumeFrom);
    trainer.fit();
    if (root && rc.mode == "downpour")
      spdlog::info("downpour: {} updates, staleness mean {:.2f}, max {}", trainer.stats().updates,
                   trainer.stats().meanStaleness, trainer.stats().maxStaleness);
    if (root && rc.async.masters > 1)
      spdlog::info("hierarchical downpour: {} exchanges with {} sub-masters, exchange staleness mean {:.2f}, max {}",
                   trainer.stats().exchanges, rc.async.masters, trainer.stats().meanExchangeStaleness,
                   trainer.stats().maxExchangeStaleness);
    return kaon::train::StopSignals::requested() ? kaon::train::kExitInterrupted : 0;
  }
  // GPU gradients, weights and buffers of several ranks: NCCL (or host staging, per gpu.communicator);
  // it forwards host values (metrics, agreement) to the MPI communicator.
  std::unique_ptr<kaon::comm::Communicator> deviceComm;
  if (device.isCuda() && comm->size() > 1) {
    auto transport = rc.gpuCommunicator == "nccl"  ? kaon::comm::DeviceTransport::Nccl
                     : rc.gpuCommunicator == "mpi" ? kaon::comm::DeviceTransport::Mpi
                                                   : kaon::comm::DeviceTransport::Auto;
    deviceComm = kaon::comm::makeDeviceCommunicator(*comm, device, transport, rc.trainer.stallTimeoutSeconds);
  }
  if (deviceComm) spdlog::info("GPU buffers of the {} ranks travel over {}", comm->size(), deviceComm->name());
  kaon::train::Trainer trainer(model, *opt.optimizer, lr, *data.train, data.validation.get(), rc.trainer,
                               deviceComm ? deviceComm.get() : comm.get());
  if (!resumeFrom.empty()) trainer.resumeFrom(resumeFrom);
  trainer.fit();
  if (trainer.interrupted()) return kaon::train::kExitInterrupted;
  if (!rc.trainer.checkpointDir.empty()) spdlog::info("checkpoint: {}", trainer.checkpointPath());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return kaon::apps::guardedMain("kaon-train", argc, argv, run); }
