#include "kaon/train/trainer.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "kaon/data/loader.hpp"
#include "kaon/data/sampler.hpp"
#include "kaon/ops/loss.hpp"
#include "kaon/optim/clip.hpp"
#include "kaon/train/metrics.hpp"
#include "kaon/train/metrics_log.hpp"
#include "progress.hpp"

namespace kaon::train {

Trainer::Trainer(nn::Model& model, optim::Optimizer& optimizer, std::function<double(std::int64_t)> learningRate,
                 const data::Dataset& train, const data::Dataset* validation, TrainerOptions options)
    : model_(model), optimizer_(optimizer), learningRate_(std::move(learningRate)), train_(train),
      validation_(validation), options_(std::move(options)) {
  KAON_CHECK(model_.built(), "trainer: the model must be built");
  KAON_CHECK(options_.epochs >= 1, "trainer.epochs must be >= 1, got {}", options_.epochs);
  KAON_CHECK(options_.batchSize >= 1, "trainer.batch_size must be >= 1, got {}", options_.batchSize);
  KAON_CHECK(model_.inputNames().size() == 1 && model_.outputNames().size() == 1,
             "trainer: this loop trains models with one input and one output (got {} and {})",
             model_.inputNames().size(), model_.outputNames().size());
  checkCompatibility(train_);
  if (validation_) checkCompatibility(*validation_);
  KAON_CHECK(train_.size() >= options_.batchSize || !options_.dropLastBatch,
             "trainer: batch_size {} exceeds the {} training samples and drop_last is set", options_.batchSize,
             train_.size());
  // Validates the metric names against the loss before any training happens.
  MetricAccumulator(options_.loss, options_.metrics);
}

void Trainer::checkCompatibility(const data::Dataset& d) const {
  KAON_CHECK(d.size() > 0, "{}: the dataset is empty", d.describe());
  auto in = d.inputShapes();
  KAON_CHECK(in.size() == 1 && in[0] == model_.inputShapes()[0],
             "{}: samples have shape {}, the model input '{}' expects {}", d.describe(),
             in.empty() ? "none" : in[0].str(), model_.inputNames()[0], model_.inputShapes()[0].str());
  auto targets = d.targetShapes();
  KAON_CHECK(targets.size() == 1, "{}: expected one target per sample, got {}", d.describe(), targets.size());
  Shape out = model_.outputShapes()[0];
  if (options_.loss == ops::LossKind::SoftmaxCrossEntropy)
    KAON_CHECK(targets[0].numel() == 1 && out.rank() == 1,
               "{}: softmax cross-entropy needs class labels and a [classes] output; targets are {}, output {}",
               d.describe(), targets[0].str(), out.str());
  else
    KAON_CHECK(targets[0].numel() == out.numel(), "{}: targets have shape {}, the model output is {}", d.describe(),
               targets[0].str(), out.str());
}

std::string Trainer::checkpointPath() const {
  return options_.checkpointDir.empty() ? "" : (std::filesystem::path(options_.checkpointDir) / "checkpoint.h5").string();
}

void Trainer::writeCheckpoint() {
  if (options_.checkpointDir.empty()) return;
  saveCheckpoint(checkpointPath(), model_, optimizer_, progress_, options_.configText);
}

void Trainer::resumeFrom(const std::string& path) {
  progress_ = loadCheckpoint(path, model_, optimizer_);
  spdlog::info("resumed from {}: epoch {}, step {} of the epoch, {} steps in total", path, progress_.epoch,
               progress_.stepInEpoch, progress_.globalStep);
}

Trainer::StepResult Trainer::trainStep(const data::Batch& batch, std::int64_t globalStep) {
  Tensor pred = model_.forward(batch.inputs[0], true);
  ops::LossResult l = ops::loss(options_.loss, pred, batch.targets[0], batch.weights);
  KAON_CHECK(std::isfinite(l.value), "training diverged: loss is {} at step {}", l.value, globalStep);
  model_.zeroGrad();
  model_.backward(l.grad);
  if (options_.clipNorm > 0) optim::clipGradientNorm(model_.gradients(), model_.trainableRanges(), options_.clipNorm);
  optimizer_.step(learningRate_(globalStep));
  return {l.value, pred};
}

std::map<std::string, double> Trainer::evaluate(const data::Dataset& dataset) {
  MetricAccumulator acc(options_.loss, options_.metrics);
  const std::int64_t n = dataset.size();
  data::Batch batch = dataset.allocateBatch(std::min(options_.batchSize, n));
  std::vector<std::int64_t> idx;
  for (std::int64_t start = 0; start < n; start += options_.batchSize) {
    std::int64_t count = std::min(options_.batchSize, n - start);
    if (count != batch.size()) batch = dataset.allocateBatch(count);
    idx.resize(count);
    for (std::int64_t i = 0; i < count; ++i) idx[i] = start + i;
    dataset.read(idx, batch);
    Tensor pred = model_.forward(batch.inputs[0], false);
    ops::LossResult l = ops::loss(options_.loss, pred, batch.targets[0], batch.weights, false);
    acc.add(pred, batch.targets[0], l.value * count, static_cast<double>(count));
  }
  model_.releaseSaved();
  return acc.values();
}

std::vector<EpochResult> Trainer::fit() {
  data::ShardedSampler sampler(train_.size(), {options_.shuffle, options_.seed, 0, 1, data::RemainderPolicy::Pad});
  std::unique_ptr<MetricsLog> log;
  if (!options_.metricsFile.empty()) log = std::make_unique<MetricsLog>(options_.metricsFile);
  std::vector<EpochResult> results;
  for (int epoch = static_cast<int>(progress_.epoch); epoch < options_.epochs; ++epoch) {
    std::vector<std::int64_t> order = sampler.indices(epoch);
    std::int64_t full = static_cast<std::int64_t>(order.size()) / options_.batchSize;
    bool partial = !options_.dropLastBatch && static_cast<std::int64_t>(order.size()) % options_.batchSize != 0;
    std::int64_t steps = full + (partial ? 1 : 0);
    MetricAccumulator trainMetrics(options_.loss, options_.metrics);
    ProgressLine progress(epoch + 1, options_.epochs, steps, options_.batchSize, options_.logEverySteps,
                          options_.progress);
    // Batches are read ahead in a background thread (data.prefetch); same batches as reading in the loop.
    data::Loader loader(train_, std::move(order),
                        {options_.batchSize, options_.dropLastBatch, options_.prefetch, progress_.stepInEpoch});
    std::int64_t samples = 0;
    for (std::int64_t s = progress_.stepInEpoch; s < steps; ++s) {
      const data::Batch& batch = *loader.next();
      const std::int64_t count = batch.size();
      StepResult step = trainStep(batch, progress_.globalStep);
      double loss = step.loss;
      // Training metrics come from the step's own forward pass (weights before the update), as in Keras.
      trainMetrics.add(step.prediction, batch.targets[0], loss * count, static_cast<double>(count));
      samples += count;
      ++progress_.globalStep;
      progress_.stepInEpoch = s + 1;
      progress.update(s + 1, loss);
      if (options_.checkpointEverySteps > 0 && progress_.globalStep % options_.checkpointEverySteps == 0)
        writeCheckpoint();
    }
    progress.finish();
    progress_.epoch = epoch + 1;
    progress_.stepInEpoch = 0;
    EpochResult r;
    r.epoch = epoch + 1;
    r.seconds = progress.seconds();
    r.samplesPerSecond = samples / std::max(r.seconds, 1e-9);
    r.learningRate = learningRate_(std::max<std::int64_t>(progress_.globalStep - 1, 0));
    r.train = trainMetrics.values();
    model_.releaseSaved();
    if (validation_) r.validation = evaluate(*validation_);
    std::string line = fmt::format("epoch {}/{}: {:.1f}s, {:.0f} samples/s, lr {:.3g}", r.epoch, options_.epochs,
                                   r.seconds, r.samplesPerSecond, r.learningRate);
    for (const auto& [k, v] : r.train) line += fmt::format(" | train {} {:.4f}", k, v);
    for (const auto& [k, v] : r.validation) line += fmt::format(" | val {} {:.4f}", k, v);
    spdlog::info("{}", line);
    if (log) {
      std::map<std::string, double> rec{{"epoch", r.epoch}, {"step", static_cast<double>(progress_.globalStep)},
                                        {"lr", r.learningRate}, {"seconds", r.seconds},
                                        {"samples_per_s", r.samplesPerSecond}};
      for (const auto& [k, v] : r.train) rec["train_" + k] = v;
      for (const auto& [k, v] : r.validation) rec["val_" + k] = v;
      log->write(rec);
    }
    if (options_.checkpointEveryEpochs > 0 && r.epoch % options_.checkpointEveryEpochs == 0) writeCheckpoint();
    results.push_back(std::move(r));
  }
  return results;
}

std::string findCheckpoint(const std::string& dir) {
  auto p = std::filesystem::path(dir) / "checkpoint.h5";
  return std::filesystem::exists(p) ? p.string() : std::string();
}

}  // namespace kaon::train
