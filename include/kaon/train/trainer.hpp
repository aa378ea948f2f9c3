#pragma once
// Single-process training loop: forward, loss, backward, (clip), optimizer step; validation
// each epoch; metrics to the console and a CSV/JSONL file; checkpoints and exact resume.
// The distributed strategies wrap the same step (issue: distributed training).
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kaon/data/dataset.hpp"
#include "kaon/nn/model.hpp"
#include "kaon/ops/kinds.hpp"
#include "kaon/optim/optimizer.hpp"
#include "kaon/train/checkpoint.hpp"

namespace kaon::train {

struct TrainerOptions {
  int epochs = 1;
  std::int64_t batchSize = 32;
  ops::LossKind loss = ops::LossKind::SoftmaxCrossEntropy;
  std::vector<std::string> metrics;  // "accuracy", "auc"
  bool shuffle = true;
  bool dropLastBatch = false;
  std::uint64_t seed = 0;
  int prefetch = 2;  // training batches read ahead by the data::Loader thread (0: synchronous)
  double clipNorm = 0.0;  // 0: no clipping
  // Console: a live progress line on a terminal; otherwise a line every logEverySteps.
  int logEverySteps = 50;
  bool progress = true;
  std::string metricsFile;  // ".csv" or ".jsonl"; empty: none
  std::string checkpointDir;  // empty: no checkpoints
  int checkpointEveryEpochs = 1;
  std::int64_t checkpointEverySteps = 0;  // 0: only at epoch ends
  std::string configText;  // stored in checkpoints
};

struct EpochResult {
  int epoch = 0;  // 1-based
  std::map<std::string, double> train, validation;
  double seconds = 0, samplesPerSecond = 0, learningRate = 0;
};

class Trainer {
 public:
  // learningRate(step) gives the rate for optimizer step `step` (0-based); validation may be null.
  Trainer(nn::Model& model, optim::Optimizer& optimizer, std::function<double(std::int64_t)> learningRate,
          const data::Dataset& train, const data::Dataset* validation, TrainerOptions options);

  // Continues from a checkpoint written by this trainer (same model and optimizer).
  void resumeFrom(const std::string& checkpointPath);
  std::vector<EpochResult> fit();
  std::map<std::string, double> evaluate(const data::Dataset& dataset);
  // One optimisation step on a batch: the batch loss and the model output it came from.
  struct StepResult {
    double loss;
    Tensor prediction;
  };
  StepResult trainStep(const data::Batch& batch, std::int64_t globalStep);
  const TrainingProgress& progress() const { return progress_; }
  std::string checkpointPath() const;  // <dir>/checkpoint.h5

 private:
  void checkCompatibility(const data::Dataset& dataset) const;
  void writeCheckpoint();

  nn::Model& model_;
  optim::Optimizer& optimizer_;
  std::function<double(std::int64_t)> learningRate_;
  const data::Dataset& train_;
  const data::Dataset* validation_;
  TrainerOptions options_;
  TrainingProgress progress_;
};

// The checkpoint to resume from under `dir` (empty if none).
std::string findCheckpoint(const std::string& dir);

}  // namespace kaon::train
