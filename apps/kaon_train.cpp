// kaon-train: trains a model described by a YAML config.
//   kaon-train configs/jet_cnn.yaml --set trainer.epochs=3 --set optimizer.lr=0.01
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "app_support.hpp"
#include "kaon/config/run_config.hpp"
#include "kaon/core/runtime.hpp"
#include "kaon/data/data_config.hpp"
#include "kaon/nn/model_config.hpp"
#include "kaon/optim/optim_config.hpp"
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
  CLI11_PARSE(app, argc, argv);

  kaon::apps::requireSingleProcess("kaon-train");
  kaon::config::RunConfig rc = kaon::config::loadRunConfig(configPath, overrides);
  spdlog::set_level(spdlog::level::from_str(rc.logLevel));
  kaon::setNumThreads(rc.threads);

  kaon::config::ConfigNode modelNode(rc.model, "model", rc.path);
  kaon::nn::Model model = kaon::nn::modelFromConfig(modelNode);
  model.build(kaon::DType::Float32, rc.seed);
  std::fputs(model.summary().c_str(), stdout);
  if (summaryOnly) return 0;

  kaon::config::ConfigNode optimizerNode(rc.optimizer, "optimizer", rc.path);
  kaon::optim::OptimizerSetup opt = kaon::optim::optimizerFromConfig(optimizerNode);
  kaon::config::ConfigNode dataNode(rc.data, "data", rc.path);
  kaon::data::DatasetSplit data = kaon::data::datasetsFromConfig(dataNode, {rc.seed, rc.trainer.checkpointDir});
  rc.trainer.prefetch = data.prefetch;

  rc.trainer.clipNorm = opt.clipNorm;
  rc.trainer.configText = rc.text;
  std::int64_t perEpoch = rc.trainer.dropLastBatch
                              ? data.train->size() / rc.trainer.batchSize
                              : (data.train->size() + rc.trainer.batchSize - 1) / rc.trainer.batchSize;
  std::unique_ptr<kaon::config::ConfigNode> scheduleNode;
  if (rc.schedule.IsDefined() && !rc.schedule.IsNull()) scheduleNode = std::make_unique<kaon::config::ConfigNode>(rc.schedule, "schedule", rc.path);
  std::shared_ptr<kaon::optim::Schedule> schedule =
      kaon::optim::scheduleFromConfig(scheduleNode.get(), opt.baseLr, perEpoch, perEpoch * rc.trainer.epochs);
  opt.optimizer->attach(model.parameters(), model.gradients(), model.trainableRanges());

  spdlog::info("data: {} training samples ({}), {} validation; {} steps per epoch; optimizer {} ({})",
               data.train->size(), data.train->describe(), data.validation ? data.validation->size() : 0, perEpoch,
               opt.optimizer->name(), schedule->describe());
  kaon::train::Trainer trainer(
      model, *opt.optimizer, [schedule](std::int64_t step) { return schedule->lr(step); }, *data.train,
      data.validation.get(), rc.trainer);
  std::string resumeFrom = kaon::apps::resolveResume(rc.resume, rc.trainer.checkpointDir);
  if (!resumeFrom.empty()) trainer.resumeFrom(resumeFrom);
  trainer.fit();
  if (!rc.trainer.checkpointDir.empty()) spdlog::info("checkpoint: {}", trainer.checkpointPath());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return kaon::apps::guardedMain("kaon-train", argc, argv, run); }
