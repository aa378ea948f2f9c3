#include "kaon/train/async_trainer.hpp"

#include <spdlog/spdlog.h>

#include <cmath>

#include "kaon/data/sampler.hpp"
#include "kaon/ops/elementwise.hpp"
#include "kaon/ops/loss.hpp"
#include "kaon/optim/clip.hpp"
#include "kaon/train/metrics_log.hpp"
#include "kaon/train/run_control.hpp"
#include "device_prefetcher.hpp"

namespace kaon::train {
namespace {

constexpr int kTagHeader = 101, kTagPayload = 102, kTagReply = 103, kTagReplyPayload = 104;
// Message kinds and reply commands travel in float64 headers.
constexpr double kGradient = 1, kWeights = 2;
constexpr double kStop = 0, kContinue = 1, kSendWeights = 2, kElastic = 3;
constexpr int kHeaderSize = 5;  // kind, version, steps, lossSum, samples

}  // namespace

comm::Communicator& AsyncTrainer::deviceCapable(comm::Communicator& comm, Device device,
                                                std::unique_ptr<comm::Communicator>& owned) {
  // Master/worker messages need MPI's any-source receive, which NCCL lacks: GPU buffers go
  // through page-locked host buffers, or straight to a CUDA-aware MPI.
  if (comm.supportsDevice(device)) return comm;
  owned = comm::makeStagedCommunicator(comm);
  return *owned;
}

AsyncTrainer::AsyncTrainer(nn::Model& model, optim::Optimizer& optimizer,
                           std::function<double(std::int64_t)> learningRate, const data::Dataset& train,
                           const data::Dataset* validation, TrainerOptions options, AsyncOptions async,
                           comm::Communicator& comm)
    : model_(model), optimizer_(optimizer), learningRate_(std::move(learningRate)), train_(train),
      validation_(validation), options_(std::move(options)), async_(async),
      comm_(deviceCapable(comm, model.device(), stagedComm_)) {
  KAON_CHECK(comm_.size() >= 2, "{} needs a master and at least one worker: run with 2 or more ranks",
             async_.mode == AsyncOptions::Mode::Downpour ? "downpour" : "asynchronous easgd");
  KAON_CHECK(async_.pullEvery >= 1, "downpour.pull_every must be >= 1");
  KAON_CHECK(async_.tau >= 1, "easgd.tau must be >= 1");
  const int workers = comm_.size() - 1;
  if (async_.alpha == 0.0) async_.alpha = 0.9 / workers;
  KAON_CHECK(async_.alpha > 0 && async_.alpha < 1, "easgd.alpha must be in (0, 1), got {}", async_.alpha);
  // One epoch = every training sample used once, summed over workers.
  stepsPerEpoch_ = (train_.size() + options_.batchSize - 1) / options_.batchSize;
  // Validates shapes and ranks agreeing (rank fingerprints, weight broadcast) like the sync trainer.
  std::vector<double> mine{static_cast<double>(model_.parameterCount()),
                           static_cast<double>(std::hash<std::string>{}(options_.configText) % (1ull << 52))};
  for (std::size_t k = 0; k < mine.size(); ++k) {
    auto all = comm_.allgather(mine[k]);
    for (int r = 1; r < comm_.size(); ++r)
      KAON_CHECK(all[r] == all[0], "ranks disagree on the {}: rank 0 has {}, rank {} has {}",
                 k == 0 ? "parameter count" : "config", all[0], r, all[r]);
  }
  comm_.broadcast(model_.parameters(), 0);
  if (model_.buffers().numel() > 0) comm_.broadcast(model_.buffers(), 0);
}

std::vector<EpochResult> AsyncTrainer::fit() {
  StopSignals::install();
  if (comm_.rank() == 0) return runMaster();
  runWorker();
  return {};
}

std::map<std::string, double> AsyncTrainer::evaluate() {
  if (!validation_) return {};
  // The master evaluates alone (its weights are the ones that matter), with a local trainer.
  TrainerOptions o = options_;
  o.checkpointDir.clear();
  o.metricsFile.clear();
  Trainer local(model_, optimizer_, learningRate_, train_, validation_, o);
  return local.evaluate(*validation_);
}

std::vector<EpochResult> AsyncTrainer::runMaster() {
  const int workers = comm_.size() - 1;
  const std::int64_t budget = stepsPerEpoch_ * options_.epochs;
  const std::int64_t P = model_.parameterCount();
  const bool downpour = async_.mode == AsyncOptions::Mode::Downpour;
  Tensor header = Tensor::empty(Shape{kHeaderSize}, DType::Float64), reply = Tensor::empty(Shape{2}, DType::Float64);
  Tensor payload = Tensor::empty(Shape{P}, model_.parameters().dtype(), model_.device());
  Tensor diff = Tensor::empty(Shape{P}, model_.parameters().dtype(), model_.device());
  std::vector<std::int64_t> workerSteps(comm_.size(), 0);
  std::unique_ptr<MetricsLog> log;
  if (!options_.metricsFile.empty()) log = std::make_unique<MetricsLog>(options_.metricsFile, false);
  Watchdog watchdog(options_.stallTimeoutSeconds, 0);
  std::vector<EpochResult> results;
  std::int64_t version = 0, updates = 0, stopped = 0, epochSamples = 0;
  double lossSum = 0, stalenessSum = 0;
  auto epochStart = std::chrono::steady_clock::now();
  bool interrupted = false;

  auto finishEpoch = [&](int epoch) {
    EpochResult r;
    r.epoch = epoch;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epochStart).count();
    r.samplesPerSecond = static_cast<double>(epochSamples) / std::max(r.seconds, 1e-9);
    r.learningRate = learningRate_(std::max<std::int64_t>(updates - 1, 0));
    r.train["loss"] = epochSamples ? lossSum / static_cast<double>(epochSamples) : NAN;
    r.train["staleness_mean"] = stats_.updates ? stalenessSum / static_cast<double>(stats_.updates) : 0;
    r.train["staleness_max"] = static_cast<double>(stats_.maxStaleness);
    watchdog.beat("validation", updates);
    r.validation = evaluate();
    std::string line = fmt::format("epoch {}/{} ({}): {:.1f}s, {:.0f} samples/s | train loss {:.4f}", epoch,
                                   options_.epochs, downpour ? "downpour" : "easgd center", r.seconds,
                                   r.samplesPerSecond, r.train["loss"]);
    if (downpour)
      line += fmt::format(" | staleness mean {:.2f} max {}", r.train["staleness_mean"], stats_.maxStaleness);
    for (const auto& [k, v] : r.validation) line += fmt::format(" | val {} {:.4f}", k, v);
    spdlog::info("{}", line);
    if (log) {
      std::map<std::string, double> rec{{"epoch", epoch}, {"step", static_cast<double>(updates)},
                                        {"lr", r.learningRate}, {"seconds", r.seconds},
                                        {"samples_per_s", r.samplesPerSecond}};
      for (const auto& [k, v] : r.train) rec["train_" + k] = v;
      for (const auto& [k, v] : r.validation) rec["val_" + k] = v;
      log->write(rec);
    }
    if (!options_.checkpointDir.empty()) {
      TrainingProgress p{epoch, 0, updates};
      saveCheckpoint(options_.checkpointDir + "/checkpoint.h5", model_, optimizer_, p, options_.configText);
    }
    results.push_back(std::move(r));
    lossSum = 0;
    epochSamples = 0;
    epochStart = std::chrono::steady_clock::now();
  };

  while (stopped < workers) {
    watchdog.beat("waiting for worker messages", updates);
    int src = comm_.recvAny(header, kTagHeader);
    comm_.recv(payload, src, kTagPayload);
    auto h = header.toVector<double>();
    if (StopSignals::requested()) interrupted = true;
    if (updates >= budget || interrupted) {
      reply.copyFrom(Tensor::fromVector<double>(Shape{2}, {kStop, static_cast<double>(version)}));
      comm_.send(reply, src, kTagReply);
      ++stopped;
      continue;
    }
    const auto steps = static_cast<std::int64_t>(h[2]);
    lossSum += h[3];
    epochSamples += static_cast<std::int64_t>(h[4]);
    std::int64_t epochBefore = updates / stepsPerEpoch_;
    double command = kContinue;
    if (downpour) {
      auto staleness = version - static_cast<std::int64_t>(h[1]);
      stalenessSum += static_cast<double>(staleness);
      stats_.maxStaleness = std::max(stats_.maxStaleness, staleness);
      model_.gradients().copyFrom(payload);
      if (options_.clipNorm > 0)
        optim::clipGradientNorm(model_.gradients(), model_.trainableRanges(), options_.clipNorm);
      double lr = learningRate_(updates);
      if (async_.stalenessScaledLr) lr /= std::max<double>(1.0, static_cast<double>(staleness));
      optimizer_.step(lr);
      ++version;
      ++updates;
      ++stats_.updates;
      if (++workerSteps[src] % async_.pullEvery == 0) command = kSendWeights;
    } else {
      // Elastic move of the center towards the worker: diff = alpha (x_i - c); c += diff.
      ops::axpby(async_.alpha, payload, -async_.alpha, model_.parameters(), diff);
      ops::addInPlace(model_.parameters(), diff);
      ++version;
      updates += steps;
      stats_.updates += 1;
      command = kElastic;
    }
    reply.copyFrom(Tensor::fromVector<double>(Shape{2}, {command, static_cast<double>(version)}));
    comm_.send(reply, src, kTagReply);
    if (command == kSendWeights) comm_.send(model_.parameters(), src, kTagReplyPayload);
    if (command == kElastic) comm_.send(diff, src, kTagReplyPayload);
    std::int64_t epochAfter = std::min<std::int64_t>(updates, budget) / stepsPerEpoch_;
    for (std::int64_t e = epochBefore + 1; e <= epochAfter; ++e) finishEpoch(static_cast<int>(e));
  }
  stats_.meanStaleness = stats_.updates ? stalenessSum / static_cast<double>(stats_.updates) : 0;
  comm_.barrier();  // every worker has its STOP: nothing is in flight
  if (interrupted)
    spdlog::warn("stopped by a signal after {} updates; {}", updates,
                 options_.checkpointDir.empty() ? "no checkpoint directory is configured" : "checkpoint written");
  if (interrupted && !options_.checkpointDir.empty())
    saveCheckpoint(options_.checkpointDir + "/checkpoint.h5", model_, optimizer_,
                   TrainingProgress{updates / stepsPerEpoch_, 0, updates}, options_.configText);
  return results;
}

void AsyncTrainer::runWorker() {
  const int workers = comm_.size() - 1, worker = comm_.rank() - 1;
  const bool downpour = async_.mode == AsyncOptions::Mode::Downpour;
  data::ShardedSampler sampler(train_.size(), {options_.shuffle, options_.seed, worker, workers,
                                               data::RemainderPolicy::Pad});
  Tensor header = Tensor::empty(Shape{kHeaderSize}, DType::Float64), reply = Tensor::empty(Shape{2}, DType::Float64);
  Tensor diff = Tensor::empty(model_.parameters().shape(), model_.parameters().dtype(), model_.device());
  Watchdog watchdog(options_.stallTimeoutSeconds, comm_.rank());
  double version = 0, lossSum = 0;
  std::int64_t localSteps = 0, samples = 0;
  data::Batch batch = train_.allocateBatch(options_.batchSize);  // reused; reallocated for a short last batch
  for (std::int64_t epoch = 0;; ++epoch) {
    std::vector<std::int64_t> order = sampler.indices(epoch);
    for (std::int64_t begin = 0; begin < static_cast<std::int64_t>(order.size()); begin += options_.batchSize) {
      std::int64_t count = std::min<std::int64_t>(options_.batchSize, static_cast<std::int64_t>(order.size()) - begin);
      if (count != batch.size()) batch = train_.allocateBatch(count);
      watchdog.beat("reading data", localSteps);
      train_.read(std::span(order).subspan(begin, count), batch);
      watchdog.beat("forward/backward", localSteps);
      const data::Batch dev = batchOnDevice(batch, model_.device());  // a GPU model gets a copy
      Tensor pred = model_.forward(dev.inputs[0], true);
      ops::LossResult l = ops::loss(options_.loss, pred, dev.targets[0], dev.weights);
      KAON_CHECK(std::isfinite(l.value), "rank {}: training diverged (loss {})", comm_.rank(), l.value);
      model_.zeroGrad();
      model_.backward(l.grad);
      ++localSteps;
      lossSum += l.value * static_cast<double>(count);
      samples += count;
      if (!downpour) {
        optimizer_.step(learningRate_(localSteps - 1));
        if (localSteps % async_.tau != 0) continue;
      }
      // Report to the master and act on its answer.
      watchdog.beat("exchanging with the master", localSteps);
      header.copyFrom(Tensor::fromVector<double>(
          Shape{kHeaderSize}, {downpour ? kGradient : kWeights, version,
                               downpour ? 1.0 : static_cast<double>(async_.tau), lossSum, static_cast<double>(samples)}));
      comm_.send(header, 0, kTagHeader);
      comm_.send(downpour ? model_.gradients() : model_.parameters(), 0, kTagPayload);
      lossSum = 0;
      samples = 0;
      comm_.recv(reply, 0, kTagReply);
      auto r = reply.toVector<double>();
      if (r[0] == kStop) {
        comm_.barrier();
        return;
      }
      if (r[0] == kSendWeights) {
        comm_.recv(model_.parameters(), 0, kTagReplyPayload);
        version = r[1];
      } else if (r[0] == kElastic) {
        comm_.recv(diff, 0, kTagReplyPayload);
        ops::addInPlace(model_.parameters(), diff, -1.0);  // x_i -= alpha (x_i - c)
        version = r[1];
      }
    }
  }
}

}  // namespace kaon::train
