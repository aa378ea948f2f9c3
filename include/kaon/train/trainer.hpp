#pragma once
// Training loop: forward, loss, backward, (clip), optimizer step; validation each epoch;
// metrics to the console and a CSV/JSONL file; checkpoints and exact resume.
//
// With a communicator of several ranks it is synchronous data parallelism: each rank takes a
// disjoint shard of every epoch's permutation, gradients are averaged by bucketed
// non-blocking allreduce overlapping backward, parameters start equal (broadcast from rank
// 0), metrics are reduced exactly (sums and counts), and rank 0 logs and checkpoints.
//
// A model on a GPU: batches land in page-locked memory and are copied one step ahead on the
// device's copy stream. Several ranks need a communicator that takes GPU buffers (NCCL, staged);
// given one that does not (plain MPI), the trainer layers NCCL over it (one GPU per rank) or,
// without NCCL or with shared GPUs, host staging. Metrics always travel as host values.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kaon/comm/communicator.hpp"
#include "kaon/data/dataset.hpp"
#include "kaon/nn/model.hpp"
#include "kaon/ops/kinds.hpp"
#include "kaon/optim/optimizer.hpp"
#include "kaon/core/precision.hpp"
#include "kaon/train/checkpoint.hpp"
#include "kaon/train/gradient_allreducer.hpp"
#include "kaon/train/loss_scaler.hpp"
#include "kaon/train/timeline.hpp"

namespace kaon::data {
class ShardedSampler;
}

namespace kaon::train {

struct TrainerOptions {
  int epochs = 1;
  std::int64_t batchSize = 32;  // per rank: global batch / ranks (strong) or batch_per_rank (weak)
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
  double checkpointEveryMinutes = 0;      // also by wall time (0: off); ranks agree on when
  std::string configText;  // stored in checkpoints; ranks must agree on it
  std::size_t bucketBytes = 0;  // gradient allreduce bucket size; 0: by device (gradient_allreducer.hpp)
  AllreduceMode allreduce = AllreduceMode::Thread;  // how buckets travel (gradient_allreducer.hpp)
  // Multi-rank runs: abort the whole job when this rank reports no progress for this long
  // (a peer died or stalled); 0 disables. Also the timeout of an NCCL communicator the trainer
  // creates for a GPU model.
  double stallTimeoutSeconds = 600;
  // Reproducible mode: the global batch is cut into micro-batches of `microBatch` samples whose
  // gradients are computed separately and summed in a fixed order on every rank, so final
  // weights are bitwise identical for any rank count that divides the micro-batch count (same
  // threads per rank). Costs an allgather of one gradient per micro-batch per step.
  bool reproducible = false;
  std::int64_t microBatch = 0;
  // Synchronous EASGD instead of gradient averaging (multi-rank only): each rank trains on its
  // own shard; every `easgdTau` steps all ranks move towards the shared center variable with
  // rate easgdAlpha (the center moves by the sum of those moves, via one allreduce).
  bool easgd = false;
  int easgdTau = 4;
  double easgdAlpha = 0.0;  // 0: 0.9 / ranks
  // Synchronised batch norm (multi-rank sync mode): batch-norm layers compute their training
  // statistics, and the matching backward sums, over the global batch of all ranks.
  bool syncBatchNorm = false;
  std::string timelinePath;       // write a Chrome/Perfetto trace per rank here (empty: none)
  // fp32 | tf32 | bf16 | fp16 (kaon/core/precision.hpp); anything but fp32 needs a GPU model.
  Precision precision = Precision::Fp32;
  LossScalerOptions lossScale;  // fp16 only
  bool synchroniseGradients = true;  // false only for benchmarks measuring the communication cost
  bool recordStepMarks = false;      // benchmarks: keep a StepMark per step (stepMarks())
  // Called after every optimizer step (progress hooks, fault injection in tests).
  std::function<void(std::int64_t globalStep)> afterStep;
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
          const data::Dataset& train, const data::Dataset* validation, TrainerOptions options,
          comm::Communicator* comm = nullptr);  // null: a single process
  ~Trainer();

  // Continues from a checkpoint written by this trainer (same model and optimizer).
  void resumeFrom(const std::string& checkpointPath);
  // Trains to options.epochs, or until a stop signal (SIGTERM/SIGUSR1/SIGINT): then every rank
  // finishes its step, a checkpoint is written and fit returns with interrupted() true.
  std::vector<EpochResult> fit();
  bool interrupted() const { return interrupted_; }
  // Where the steps' time went so far (this rank).
  const StepTimes& stepTimes() const { return times_; }
  const LossScaler* lossScaler() const { return scaler_.get(); }  // fp16 runs only
  const std::vector<StepMark>& stepMarks() const { return marks_; }
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
  void checkRanksAgree();
  void synchroniseBuffers();
  void writeCheckpoint();
  NamedTensors strategyState() const;
  // Whether to stop (a signal arrived) and whether a timed checkpoint is due, agreed by all ranks.
  std::pair<bool, bool> agreeOnStopAndCheckpoint();
  void elasticAverage();
  std::vector<std::int64_t> epochOrder(const data::ShardedSampler& sampler, std::int64_t epoch) const;
  StepResult reproducibleStep(const data::Batch& batch, std::int64_t globalStep);

  nn::Model& model_;
  optim::Optimizer& optimizer_;
  std::function<double(std::int64_t)> learningRate_;
  const data::Dataset& train_;
  const data::Dataset* validation_;
  TrainerOptions options_;
  TrainingProgress progress_;
  std::unique_ptr<comm::Communicator> ownedComm_;
  comm::Communicator* comm_;
  // NCCL/staged over the given communicator (GPU model); declared before what uses it.
  std::unique_ptr<comm::Communicator> ownedDeviceComm_;
  std::unique_ptr<class GradientAllreducer> allreducer_;
  std::unique_ptr<class DeviceBatchPrefetcher> prefetcher_;  // GPU model: batches one step ahead
  std::unique_ptr<class Watchdog> watchdog_;
  std::unique_ptr<LossScaler> scaler_;  // fp16: dynamic loss scaling
  std::unique_ptr<nn::ReplicaReducer> replicaReducer_;  // sync_batchnorm: installed in the model
  bool interrupted_ = false;
  StepTimes times_;
  std::vector<StepMark> marks_;
  std::chrono::steady_clock::time_point lastCheckpoint_ = std::chrono::steady_clock::now();
  std::unique_ptr<Timeline> timeline_;
  Tensor center_, elasticDiff_;  // synchronous EASGD state
  Tensor microGrads_, allMicroGrads_;  // reproducible mode: [local micro, P] and [all micro, P]
};

// The checkpoint to resume from under `dir` (empty if none).
std::string findCheckpoint(const std::string& dir);

}  // namespace kaon::train
