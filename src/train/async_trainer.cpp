// Master/worker training: construction, roles, resume, the worker loop (async_master.cpp has
// the servers).
#include "kaon/train/async_trainer.hpp"

#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>

#include "async_protocol.hpp"
#include "kaon/data/sampler.hpp"
#include "kaon/ops/elementwise.hpp"
#include "kaon/ops/loss.hpp"
#include "kaon/train/run_control.hpp"
#include "device_prefetcher.hpp"

namespace kaon::train {
using namespace async;

namespace {
// Counters saved in /strategy/counters, in this order.
enum Counter { kVersion, kUpdates, kStatUpdates, kStalenessSum, kMaxStaleness, kExchanges, kExchangeStalenessSum,
               kMaxExchangeStaleness, kCounterCount };
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
  const bool downpour = async_.mode == AsyncOptions::Mode::Downpour;
  KAON_CHECK(comm_.size() >= 2, "{} needs a master and at least one worker: run with 2 or more ranks",
             downpour ? "downpour" : "asynchronous easgd");
  KAON_CHECK(async_.pullEvery >= 1, "downpour.pull_every must be >= 1");
  KAON_CHECK(async_.tau >= 1, "easgd.tau must be >= 1");
  KAON_CHECK(async_.masters >= 1, "trainer.downpour.masters must be >= 1, got {}", async_.masters);
  KAON_CHECK(async_.exchangeEvery >= 1, "trainer.downpour.exchange_every must be >= 1");
  if (async_.masters > 1) {
    KAON_CHECK(downpour, "trainer.downpour.masters > 1 (hierarchical) applies to downpour only");
    KAON_CHECK(comm_.size() >= 1 + 2 * async_.masters,
               "trainer.downpour.masters {} needs a top master, {} sub-masters and at least one worker each: "
               "run with at least {} ranks (this run has {})", async_.masters, async_.masters,
               1 + 2 * async_.masters, comm_.size());
  }
  const int workers = comm_.size() - firstWorker();
  if (async_.alpha == 0.0) async_.alpha = 0.9 / workers;
  KAON_CHECK(async_.alpha > 0 && async_.alpha < 1, "easgd.alpha must be in (0, 1), got {}", async_.alpha);
  // One epoch = every training sample used once, summed over workers.
  stepsPerEpoch_ = (train_.size() + options_.batchSize - 1) / options_.batchSize;
  workerSteps_.assign(comm_.size(), 0);
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

AsyncTrainer::~AsyncTrainer() = default;

std::string AsyncTrainer::strategyName() const {
  if (async_.mode == AsyncOptions::Mode::Easgd) return "easgd-async";
  return async_.masters > 1 ? "downpour-hierarchical" : "downpour";
}

std::string AsyncTrainer::checkpointPath() const {
  return options_.checkpointDir.empty() ? "" : (std::filesystem::path(options_.checkpointDir) / "checkpoint.h5").string();
}

AsyncTrainer::Role AsyncTrainer::role() const {
  if (comm_.rank() == 0) return async_.masters > 1 ? Role::TopMaster : Role::Master;
  return comm_.rank() < firstWorker() ? Role::SubMaster : Role::Worker;
}

int AsyncTrainer::serverOf(int workerRank) const {
  return async_.masters > 1 ? 1 + (workerRank - firstWorker()) % async_.masters : 0;
}

std::int64_t AsyncTrainer::groupBudget(int subMaster) const {
  // Group g (0-based) has the workers j with j % k == g; its share of the budget is
  // proportional to its size, split on cumulative counts so the shares add up exactly.
  const std::int64_t budget = stepsPerEpoch_ * options_.epochs, k = async_.masters;
  const std::int64_t workers = comm_.size() - firstWorker(), g = subMaster - 1;
  auto size = [&](std::int64_t group) { return workers / k + (group < workers % k ? 1 : 0); };
  std::int64_t before = 0;
  for (std::int64_t i = 0; i < g; ++i) before += size(i);
  return budget * (before + size(g)) / workers - budget * before / workers;
}

std::vector<EpochResult> AsyncTrainer::fit() {
  StopSignals::install();
  watchdog_ = std::make_unique<Watchdog>(options_.stallTimeoutSeconds, comm_.rank());
  std::vector<EpochResult> results;
  switch (role()) {
    case Role::Master: results = runMaster(); break;
    case Role::TopMaster: results = runTopMaster(); break;
    case Role::SubMaster: runSubMaster(); break;
    case Role::Worker: runWorker(); break;
  }
  watchdog_.reset();
  return results;
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

void AsyncTrainer::saveState() {
  if (options_.checkpointDir.empty()) return;
  TrainingProgress p;
  const std::int64_t done = std::min(updates_, stepsPerEpoch_ * options_.epochs);
  p.epoch = done / stepsPerEpoch_;
  p.stepInEpoch = done % stepsPerEpoch_;
  p.globalStep = updates_;
  p.ranks = comm_.size();
  p.strategy = strategyName();
  Tensor counters = Tensor::fromVector<double>(
      Shape{kCounterCount},
      {static_cast<double>(version_), static_cast<double>(updates_), static_cast<double>(stats_.updates), stalenessSum_,
       static_cast<double>(stats_.maxStaleness), static_cast<double>(stats_.exchanges), exchangeStalenessSum_,
       static_cast<double>(stats_.maxExchangeStaleness)});
  std::vector<double> steps(workerSteps_.begin(), workerSteps_.end());
  Tensor workerSteps = Tensor::fromVector<double>(Shape{static_cast<std::int64_t>(steps.size())}, steps);
  saveCheckpoint(checkpointPath(), model_, optimizer_, p, options_.configText,
                 {{"counters", counters}, {"worker_steps", workerSteps}});
}

void AsyncTrainer::resumeFrom(const std::string& path) {
  if (async_.masters > 1)
    throw NotImplemented("resuming hierarchical downpour (trainer.downpour.masters > 1): sub-masters' optimizer "
                         "state is not checkpointed");
  Tensor counters = Tensor::zeros(Shape{kCounterCount}, DType::Float64);
  Tensor workerSteps = Tensor::zeros(Shape{comm_.size()}, DType::Float64);
  // Rank 0 reads the file (others may not see it) and tells everyone whether that worked, so
  // a bad checkpoint ends every rank with an error instead of leaving them in a broadcast.
  std::string error;
  if (comm_.rank() == 0) {
    try {
      checkStrategyMatches(path, checkpointStrategy(path), strategyName());
      TrainingProgress p =
          loadCheckpoint(path, model_, optimizer_, {{"counters", counters}, {"worker_steps", workerSteps}});
      KAON_CHECK(p.ranks == comm_.size(),
                 "{}: written by a {} run of {} ranks, this run has {}: master/worker runs resume with the same rank "
                 "count (each worker's place in its data shard depends on it)", path, p.strategy, p.ranks, comm_.size());
    } catch (const Error& e) {
      error = e.what();
    }
  }
  Tensor ok = Tensor::fromVector<double>(Shape{1}, {error.empty() ? 1.0 : 0.0});
  comm_.broadcast(ok, 0);
  if (!error.empty()) throw Error(error);
  KAON_CHECK(ok.toVector<double>()[0] == 1.0, "rank {}: rank 0 could not resume from {} (see its error)", comm_.rank(),
             path);
  comm_.broadcast(model_.parameters(), 0);
  if (model_.buffers().numel() > 0) comm_.broadcast(model_.buffers(), 0);
  comm_.broadcast(counters, 0);
  comm_.broadcast(workerSteps, 0);
  auto c = counters.toVector<double>();
  auto w = workerSteps.toVector<double>();
  for (std::size_t r = 0; r < w.size(); ++r) workerSteps_[r] = static_cast<std::int64_t>(w[r]);
  if (comm_.rank() == 0) {
    version_ = static_cast<std::int64_t>(c[kVersion]);
    updates_ = static_cast<std::int64_t>(c[kUpdates]);
    stats_.updates = static_cast<std::int64_t>(c[kStatUpdates]);
    stalenessSum_ = c[kStalenessSum];
    stats_.maxStaleness = static_cast<std::int64_t>(c[kMaxStaleness]);
    spdlog::info("resumed {} from {}: {} updates (epoch {} of {}), master version {}", strategyName(), path, updates_,
                 updates_ / stepsPerEpoch_, options_.epochs, version_);
  }
  version0_ = c[kVersion];  // workers' weights are the master's of this version
}

void AsyncTrainer::finishStats() {
  stats_.meanStaleness = stats_.updates ? stalenessSum_ / static_cast<double>(stats_.updates) : 0;
  stats_.meanExchangeStaleness = stats_.exchanges ? exchangeStalenessSum_ / static_cast<double>(stats_.exchanges) : 0;
}

void AsyncTrainer::runWorker() {
  const int workers = comm_.size() - firstWorker(), worker = comm_.rank() - firstWorker();
  const int server = serverOf(comm_.rank());
  const bool downpour = async_.mode == AsyncOptions::Mode::Downpour;
  data::ShardedSampler sampler(train_.size(), {options_.shuffle, options_.seed, worker, workers,
                                               data::RemainderPolicy::Pad});
  Tensor header = Tensor::empty(Shape{kHeaderSize}, DType::Float64), reply = Tensor::empty(Shape{kReplySize}, DType::Float64);
  Tensor diff = Tensor::empty(model_.parameters().shape(), model_.parameters().dtype(), model_.device());
  double version = version0_, lossSum = 0;
  // A resumed worker continues after the steps its server had accepted: the data order is a
  // pure function of (seed, epoch), every epoch of a padded shard has the same batches.
  std::int64_t localSteps = workerSteps_[comm_.rank()], samples = 0;
  const std::int64_t shard = static_cast<std::int64_t>(sampler.indices(0).size());
  const std::int64_t perEpoch = (shard + options_.batchSize - 1) / options_.batchSize;
  const std::int64_t firstEpoch = localSteps / perEpoch, firstBegin = (localSteps % perEpoch) * options_.batchSize;
  data::Batch batch = train_.allocateBatch(options_.batchSize);  // reused; reallocated for a short last batch
  for (std::int64_t epoch = firstEpoch;; ++epoch) {
    std::vector<std::int64_t> order = sampler.indices(epoch);
    for (std::int64_t begin = epoch == firstEpoch ? firstBegin : 0; begin < static_cast<std::int64_t>(order.size());
         begin += options_.batchSize) {
      std::int64_t count = std::min<std::int64_t>(options_.batchSize, static_cast<std::int64_t>(order.size()) - begin);
      if (count != batch.size()) batch = train_.allocateBatch(count);
      watchdog_->beat("reading data", localSteps);
      train_.read(std::span(order).subspan(begin, count), batch);
      watchdog_->beat("forward/backward", localSteps);
      const data::Batch dev = batchOnDevice(batch, model_.device());  // a GPU model gets a copy
      Tensor pred = model_.forward(dev.inputs[0], true);
      ops::LossResult l = ops::loss(options_.loss, pred, dev.targets[0], dev.weights);
      KAON_CHECK(std::isfinite(l.value), "rank {}: training diverged (loss {})", comm_.rank(), l.value);
      model_.zeroGrad();
      model_.backward(l.grad);
      ++localSteps;
      lossSum += l.value * static_cast<double>(count);
      samples += count;
      if (options_.afterStep) options_.afterStep(localSteps);
      if (!downpour) {
        optimizer_.step(learningRate_(localSteps - 1));
        if (localSteps % async_.tau != 0) continue;
      }
      // Report to the server and act on its answer.
      watchdog_->beat("exchanging with the master", localSteps);
      header.copyFrom(Tensor::fromVector<double>(
          Shape{kHeaderSize}, {downpour ? kGradient : kWeights, version,
                               downpour ? 1.0 : static_cast<double>(async_.tau), lossSum, static_cast<double>(samples)}));
      comm_.send(header, server, kTagHeader);
      comm_.send(downpour ? model_.gradients() : model_.parameters(), server, kTagPayload);
      lossSum = 0;
      samples = 0;
      comm_.recv(reply, server, kTagReply);
      auto r = reply.toVector<double>();
      if (r[0] == kStop) {
        comm_.barrier();
        return;
      }
      if (r[0] == kSendWeights) {
        comm_.recv(model_.parameters(), server, kTagReplyPayload);
        version = r[1];
      } else if (r[0] == kElastic) {
        comm_.recv(diff, server, kTagReplyPayload);
        ops::addInPlace(model_.parameters(), diff, -1.0);  // x_i -= alpha (x_i - c)
        version = r[1];
      }
    }
  }
}

}  // namespace kaon::train
