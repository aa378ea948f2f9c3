#include "kaon/train/trainer.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "kaon/data/loader.hpp"
#include "kaon/data/sampler.hpp"
#include "kaon/ops/elementwise.hpp"
#include "kaon/ops/loss.hpp"
#include "kaon/optim/clip.hpp"
#include "kaon/train/metrics.hpp"
#include "kaon/train/gradient_allreducer.hpp"
#include "kaon/train/metrics_log.hpp"
#include "kaon/train/run_control.hpp"
#include "batch_feed.hpp"
#include "device_prefetcher.hpp"
#include "progress.hpp"
#include "replica_reducer.hpp"

namespace kaon::train {

Trainer::Trainer(nn::Model& model, optim::Optimizer& optimizer, std::function<double(std::int64_t)> learningRate,
                 const data::Dataset& train, const data::Dataset* validation, TrainerOptions options,
                 comm::Communicator* comm)
    : model_(model), optimizer_(optimizer), learningRate_(std::move(learningRate)), train_(train),
      validation_(validation), options_(std::move(options)), comm_(comm) {
  if (!comm_) {
    ownedComm_ = comm::makeLocalCommunicator();
    comm_ = ownedComm_.get();
  }
  progress_.ranks = comm_->size();
  progress_.strategy = options_.easgd ? "easgd" : "sync";
  if (!options_.timelinePath.empty()) timeline_ = std::make_unique<Timeline>(comm_->rank());
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
  if (options_.reproducible) {
    const std::int64_t m = options_.microBatch;
    KAON_CHECK(m >= 1 && options_.batchSize % m == 0,
               "reproducible mode: trainer.micro_batch {} must divide the per-rank batch {} (global batch {} over {} "
               "ranks)", m, options_.batchSize, options_.batchSize * comm_->size(), comm_->size());
    KAON_CHECK(!options_.easgd, "reproducible mode applies to synchronous allreduce, not easgd");
    // Bitwise-equal sums need deterministic kernels: cudnnFind picks algorithms by speed (per
    // geometry, so micro-batch shapes may get other ones) and some backward algorithms
    // accumulate with atomics.
    if (model_.device().isCuda())
      throw NotImplemented("reproducible mode for a GPU model (needs deterministic cuDNN/cuBLAS algorithms)");
  }
  model_.setPrecision(options_.precision);  // a CPU model refuses anything but fp32
  if (options_.precision == Precision::Fp16) scaler_ = std::make_unique<LossScaler>(options_.lossScale);
  // Validates the metric names against the loss before any training happens.
  MetricAccumulator(options_.loss, options_.metrics);
  if (model_.device().isCuda()) prefetcher_ = std::make_unique<DeviceBatchPrefetcher>(model_.device());
  if (comm_->size() > 1) {
    if (!comm_->supportsDevice(model_.device())) {
      // GPU buffers (gradients, weights, buffers, the EASGD center) go through NCCL where it can
      // serve, else through host staging; host values (metrics, agreement) still take comm's
      // path, to which the device communicator forwards them.
      ownedDeviceComm_ = comm::makeDeviceCommunicator(*comm_, model_.device(), comm::DeviceTransport::Auto,
                                                      options_.stallTimeoutSeconds);
      comm_ = ownedDeviceComm_.get();
    }
    checkRanksAgree();
    // Dropout masks must differ between ranks, which see different samples.
    model_.setStochasticSeed(data::splitmix64(options_.seed ^ (0xD509ull + static_cast<std::uint64_t>(comm_->rank()))));
    // Every rank starts from rank 0's weights and statistics.
    comm_->broadcast(model_.parameters(), 0);
    if (model_.buffers().numel() > 0) comm_->broadcast(model_.buffers(), 0);
    if (options_.syncBatchNorm) {
      KAON_CHECK(!options_.reproducible && !options_.easgd,
                 "trainer.sync_batchnorm applies to synchronous allreduce (not reproducible mode or easgd)");
      replicaReducer_ = makeReplicaReducer(*comm_);
      model_.setReplicaReducer(replicaReducer_.get());
    }
    if (options_.reproducible) {
      // Gradients travel per micro-batch in reproducibleStep; no bucketed averaging.
    } else if (options_.easgd) {
      KAON_CHECK(options_.easgdTau >= 1, "easgd.tau must be >= 1");
      if (options_.easgdAlpha == 0.0) options_.easgdAlpha = 0.9 / comm_->size();
      KAON_CHECK(options_.easgdAlpha > 0 && options_.easgdAlpha < 1, "easgd.alpha must be in (0, 1)");
      center_ = model_.parameters().clone();
      elasticDiff_ = Tensor::empty(center_.shape(), center_.dtype(), center_.device());
    } else if (options_.synchroniseGradients) {
      allreducer_ = std::make_unique<GradientAllreducer>(model_, *comm_, options_.bucketBytes, options_.allreduce);
      allreducer_->setTimeline(timeline_.get());
    }
  }
}

Trainer::~Trainer() {
  if (replicaReducer_) model_.setReplicaReducer(nullptr);  // the model outlives this trainer
}

void Trainer::checkRanksAgree() {
  // Ranks that built different models or read different configs would silently train
  // nonsense (or deadlock in mismatched collectives): compare fingerprints first.
  std::vector<double> mine{static_cast<double>(model_.parameterCount()),
                           static_cast<double>(std::hash<std::string>{}(options_.configText) % (1ull << 52)),
                           static_cast<double>(options_.batchSize), static_cast<double>(train_.size())};
  const char* what[] = {"parameter count", "config", "per-rank batch size", "training set size"};
  for (std::size_t k = 0; k < mine.size(); ++k) {
    std::vector<double> all = comm_->allgather(mine[k]);
    for (int r = 1; r < comm_->size(); ++r)
      KAON_CHECK(all[r] == all[0], "ranks disagree on the {}: rank 0 has {}, rank {} has {}", what[k], all[0], r,
                 all[r]);
  }
}

std::pair<bool, bool> Trainer::agreeOnStopAndCheckpoint() {
  // A signal may reach only some ranks (or reach them at different steps), and clocks differ:
  // agree first, so every rank stops or checkpoints at the same step.
  double minutes = std::chrono::duration<double>(std::chrono::steady_clock::now() - lastCheckpoint_).count() / 60;
  std::vector<double> flags{StopSignals::requested() ? 1.0 : 0.0,
                            options_.checkpointEveryMinutes > 0 && minutes >= options_.checkpointEveryMinutes ? 1.0 : 0.0};
  if (comm_->size() > 1) flags = comm_->allreduce(flags, comm::ReduceOp::Max);
  return {flags[0] > 0, flags[1] > 0};
}

void Trainer::elasticAverage() {
  // d_i = alpha (x_i - c);  x_i -= d_i;  c += sum_i d_i   (Zhang, Choromanska, LeCun 2015, eq. 5-6)
  ops::axpby(options_.easgdAlpha, model_.parameters(), -options_.easgdAlpha, center_, elasticDiff_);
  ops::addInPlace(model_.parameters(), elasticDiff_, -1.0);
  comm_->allreduce(elasticDiff_, comm::ReduceOp::Sum);
  ops::addInPlace(center_, elasticDiff_);
}

void Trainer::synchroniseBuffers() {
  // Batch-norm running statistics drift apart on different shards: average them.
  if (comm_->size() > 1 && model_.buffers().numel() > 0) comm_->allreduce(model_.buffers(), comm::ReduceOp::Average);
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
  lastCheckpoint_ = std::chrono::steady_clock::now();
  synchroniseBuffers();
  if (comm_->rank() == 0)
    saveCheckpoint(checkpointPath(), model_, optimizer_, progress_, options_.configText, strategyState());
  comm_->barrier();  // nobody runs ahead of a checkpoint that may still fail
}

NamedTensors Trainer::strategyState() const {
  NamedTensors s;
  if (center_.defined()) s.emplace_back("center", center_);
  if (scaler_) s.emplace_back("loss_scale", scaler_->state());
  return s;
}

void Trainer::resumeFrom(const std::string& path) {
  checkStrategyMatches(path, checkpointStrategy(path), progress_.strategy);
  progress_ = loadCheckpoint(path, model_, optimizer_,
                             center_.defined() ? NamedTensors{{"center", center_}} : NamedTensors{});
  if (scaler_) {
    Tensor s = readOptionalState(path, "loss_scale");
    if (s.defined()) scaler_->setState(s);
  }
  std::int64_t savedRanks = progress_.ranks;
  progress_.ranks = comm_->size();
  if (savedRanks != comm_->size() && comm_->rank() == 0)
    spdlog::warn("{} was written by {} rank(s), this run has {}: strong scaling continues with the same global "
                 "batches; weak scaling changes the global batch and the learning-rate scaling from here on",
                 path, savedRanks, comm_->size());
  if (comm_->rank() == 0)
    spdlog::info("resumed from {}: epoch {}, step {} of the epoch, {} steps in total", path, progress_.epoch,
               progress_.stepInEpoch, progress_.globalStep);
}

namespace {
Tensor onCpu(const Tensor& t) { return t.device().isCpu() ? t : t.to(Device::cpu()); }
}  // namespace

Trainer::StepResult Trainer::trainStep(const data::Batch& anyBatch, std::int64_t globalStep) {
  // fit() hands over batches already on the device (prefetched); others are copied here.
  const data::Batch batch = batchOnDevice(anyBatch, model_.device());
  using Clock = Timeline::Clock;
  auto seconds = [](Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
  auto t0 = Clock::now();
  if (scaler_) model_.setGradientScale(scaler_->scale());
  Tensor pred = model_.forward(batch.inputs[0], true);
  ops::LossResult l = ops::loss(options_.loss, pred, batch.targets[0], batch.weights);
  // fp16: an overflowing forward gives inf logits; the scaler then skips the step (below).
  KAON_CHECK(scaler_ || std::isfinite(l.value), "training diverged: loss is {} at step {}", l.value, globalStep);
  model_.zeroGrad();
  if (allreducer_) allreducer_->beginBackward();
  model_.backward(l.grad);
  auto t1 = Clock::now();
  if (watchdog_) watchdog_->beat("gradient allreduce", globalStep);
  if (allreducer_) allreducer_->finishBackward();
  auto t2 = Clock::now();
  // fp16: gradients with inf/nan (the same on every rank after the allreduce) skip the step.
  const bool apply = !scaler_ || scaler_->update(std::isfinite(ops::sumSquares(model_.gradients())));
  if (apply && options_.clipNorm > 0)
    optim::clipGradientNorm(model_.gradients(), model_.trainableRanges(), options_.clipNorm);
  if (apply) optimizer_.step(learningRate_(globalStep));
  if (center_.defined() && (globalStep + 1) % options_.easgdTau == 0) elasticAverage();
  auto t3 = Clock::now();
  times_.compute += seconds(t0, t1);
  times_.exposedComm += seconds(t1, t2);
  times_.optimizer += seconds(t2, t3);
  ++times_.steps;
  if (options_.recordStepMarks) marks_.push_back({t1, t2});
  if (timeline_) {
    timeline_->add("forward+backward", "compute", t0, t1);
    if (allreducer_) timeline_->add("wait for gradients", "comm-wait", t1, t2);
    timeline_->add("optimizer", "compute", t2, t3);
  }
  return {l.value, onCpu(pred)};  // metrics are computed on the host
}

std::map<std::string, double> Trainer::evaluate(const data::Dataset& dataset) {
  synchroniseBuffers();
  // EASGD reports the center variable: evaluate with it in place of this rank's weights.
  Tensor own;
  if (center_.defined()) {
    own = model_.parameters().clone();
    model_.parameters().copyFrom(center_);
  }
  MetricAccumulator acc(options_.loss, options_.metrics);
  // Each rank evaluates a contiguous, disjoint part; every sample is counted exactly once.
  const std::int64_t total = dataset.size(), rank = comm_->rank(), ranks = comm_->size();
  const std::int64_t first = total * rank / ranks, n = total * (rank + 1) / ranks - first;
  data::Batch batch = dataset.allocateBatch(std::max<std::int64_t>(1, std::min(options_.batchSize, n)));
  std::vector<std::int64_t> idx;
  for (std::int64_t start = 0; start < n; start += options_.batchSize) {
    std::int64_t count = std::min(options_.batchSize, n - start);
    if (count != batch.size()) batch = dataset.allocateBatch(count);
    idx.resize(count);
    for (std::int64_t i = 0; i < count; ++i) idx[i] = first + start + i;
    if (watchdog_) watchdog_->beat("validation", progress_.globalStep);
    dataset.read(idx, batch);
    const data::Batch dev = batchOnDevice(batch, model_.device());
    Tensor pred = model_.forward(dev.inputs[0], false);
    ops::LossResult l = ops::loss(options_.loss, pred, dev.targets[0], dev.weights, false);
    acc.add(onCpu(pred), batch.targets[0], l.value * count, static_cast<double>(count));
  }
  model_.releaseSaved();
  if (own.defined()) model_.parameters().copyFrom(own);
  reduceMetrics(acc, *comm_);
  return acc.values();
}

std::vector<std::int64_t> Trainer::epochOrder(const data::ShardedSampler& sampler, std::int64_t epoch) const {
  if (!options_.reproducible) return sampler.indices(epoch);
  // Reproducible mode: global batch s is positions [s*G, (s+1)*G) of the epoch's permutation
  // for any rank count; rank r takes the contiguous block r of each, so micro-batch k is the
  // same samples whatever the rank count. Incomplete global batches are dropped.
  std::vector<std::int64_t> perm = sampler.permutation(epoch), order;
  const std::int64_t b = options_.batchSize, G = b * comm_->size();
  for (std::int64_t s = 0; (s + 1) * G <= static_cast<std::int64_t>(perm.size()); ++s)
    order.insert(order.end(), perm.begin() + s * G + comm_->rank() * b, perm.begin() + s * G + (comm_->rank() + 1) * b);
  return order;
}

Trainer::StepResult Trainer::reproducibleStep(const data::Batch& batch, std::int64_t globalStep) {
  const std::int64_t m = options_.microBatch, local = batch.size() / m, P = model_.parameterCount();
  const std::int64_t total = local * comm_->size();
  if (!microGrads_.defined() || microGrads_.dim(0) != local) {
    microGrads_ = Tensor::empty(Shape{local, P}, model_.gradients().dtype());
    allMicroGrads_ = Tensor::empty(Shape{total, P}, model_.gradients().dtype());
  }
  Tensor prediction;
  double lossSum = 0;
  for (std::int64_t j = 0; j < local; ++j) {
    const std::int64_t k = comm_->rank() * local + j;  // global micro-batch index
    // Stochastic layers draw from the micro-batch's stream, not the rank's.
    model_.setStochasticSeed(data::splitmix64(options_.seed ^ data::splitmix64(
                                                                  static_cast<std::uint64_t>(globalStep) * 65537u + k)));
    Tensor pred = model_.forward(batch.inputs[0].slice(j * m, (j + 1) * m), true);
    ops::LossResult l = ops::loss(options_.loss, pred, batch.targets[0].slice(j * m, (j + 1) * m),
                                  batch.weights.defined() ? batch.weights.slice(j * m, (j + 1) * m) : Tensor());
    KAON_CHECK(std::isfinite(l.value), "training diverged: loss is {} at step {}", l.value, globalStep);
    model_.zeroGrad();
    model_.backward(l.grad);
    microGrads_.slice(j, j + 1).copyFrom(model_.gradients().reshape(Shape{1, P}));
    if (!prediction.defined()) prediction = Tensor::empty(pred.shape().withDim(0, batch.size()), pred.dtype());
    prediction.slice(j * m, (j + 1) * m).copyFrom(pred);
    lossSum += l.value;
  }
  // Every rank receives all micro-gradients in micro-batch order and sums them in that order.
  comm_->allgather(microGrads_, allMicroGrads_);
  model_.gradients().copyFrom(allMicroGrads_.slice(0, 1).reshape(Shape{P}));
  for (std::int64_t k = 1; k < total; ++k) ops::addInPlace(model_.gradients(), allMicroGrads_.slice(k, k + 1).reshape(Shape{P}));
  ops::scaleInPlace(model_.gradients(), 1.0 / static_cast<double>(total));
  if (options_.clipNorm > 0) optim::clipGradientNorm(model_.gradients(), model_.trainableRanges(), options_.clipNorm);
  optimizer_.step(learningRate_(globalStep));
  return {lossSum / static_cast<double>(local), prediction};
}

namespace {
// Host buffers of a loader must outlive the asynchronous copies from them.
struct CopyFence {
  DeviceBatchPrefetcher* prefetcher;
  ~CopyFence() {
    if (prefetcher) prefetcher->synchronize();
  }
};
}  // namespace

std::vector<EpochResult> Trainer::fit() {
  data::ShardedSampler sampler(train_.size(), {options_.shuffle, options_.seed, comm_->rank(), comm_->size(),
                                              data::RemainderPolicy::Pad});
  const bool root = comm_->rank() == 0;
  StopSignals::install();
  if (comm_->size() > 1 && options_.stallTimeoutSeconds > 0)
    watchdog_ = std::make_unique<Watchdog>(options_.stallTimeoutSeconds, comm_->rank());
  std::unique_ptr<MetricsLog> log;
  if (!options_.metricsFile.empty() && root) log = std::make_unique<MetricsLog>(options_.metricsFile, progress_.globalStep > 0);
  std::vector<EpochResult> results;
  for (int epoch = static_cast<int>(progress_.epoch); epoch < options_.epochs; ++epoch) {
    std::vector<std::int64_t> order = epochOrder(sampler, epoch);
    std::int64_t full = static_cast<std::int64_t>(order.size()) / options_.batchSize;
    bool partial = !options_.dropLastBatch && static_cast<std::int64_t>(order.size()) % options_.batchSize != 0;
    std::int64_t steps = full + (partial ? 1 : 0);
    MetricAccumulator trainMetrics(options_.loss, options_.metrics);
    ProgressLine progress(epoch + 1, options_.epochs, steps, options_.batchSize * comm_->size(),
                          options_.logEverySteps, options_.progress && root);
    // Batches are read ahead in a background thread (data.prefetch); same batches as reading in the
    // loop. A GPU model gets them in page-locked memory and one step ahead on the device: batch
    // s+1 is copied on the copy stream while step s computes (so the loader holds two batches).
    data::LoaderOptions lo{options_.batchSize, options_.dropLastBatch, options_.prefetch, progress_.stepInEpoch};
    lo.hold = prefetcher_ ? 2 : 1;
    lo.pinned = prefetcher_ != nullptr;
    data::Loader loader(train_, std::move(order), lo);
    CopyFence fence{prefetcher_.get()};  // destroyed before the loader frees its host buffers
    BatchFeed feed(loader, prefetcher_.get(), steps - progress_.stepInEpoch);
    std::int64_t samples = 0;
    for (std::int64_t s = progress_.stepInEpoch; s < steps; ++s) {
      if (watchdog_) watchdog_->beat("reading data", progress_.globalStep);
      auto readStart = Timeline::Clock::now();  // with prefetch: the time the model waits for data
      const auto [host, compute] = feed.next();
      const data::Batch& hostBatch = *host;
      const data::Batch& batch = *compute;
      const std::int64_t count = batch.size();
      times_.data += std::chrono::duration<double>(Timeline::Clock::now() - readStart).count();
      if (timeline_) timeline_->add("data", "data", readStart, Timeline::Clock::now());
      if (watchdog_) watchdog_->beat("forward/backward", progress_.globalStep);
      StepResult step = options_.reproducible ? reproducibleStep(batch, progress_.globalStep)
                                              : trainStep(batch, progress_.globalStep);
      double loss = step.loss;
      // Training metrics come from the step's own forward pass (weights before the update), as in Keras.
      trainMetrics.add(step.prediction, hostBatch.targets[0], loss * count, static_cast<double>(count));
      samples += count;
      ++progress_.globalStep;
      progress_.stepInEpoch = s + 1;
      progress.update(s + 1, loss);
      if (options_.afterStep) options_.afterStep(progress_.globalStep);
      auto [stop, timedCheckpoint] = agreeOnStopAndCheckpoint();
      if (timedCheckpoint ||
          (options_.checkpointEverySteps > 0 && progress_.globalStep % options_.checkpointEverySteps == 0))
        writeCheckpoint();
      if (stop) {
        progress.finish();
        writeCheckpoint();
        interrupted_ = true;
        if (root)
          spdlog::warn("stopped by a signal at epoch {}, step {} of the epoch; {}", epoch + 1, progress_.stepInEpoch,
                       options_.checkpointDir.empty() ? "no checkpoint directory is configured"
                                                      : "checkpoint written to " + checkpointPath());
        watchdog_.reset();
        return results;
      }
    }
    EpochResult r = finishEpoch(progress, progress_, epoch, samples, comm_->size());
    reduceMetrics(trainMetrics, *comm_);
    r.learningRate = learningRate_(std::max<std::int64_t>(progress_.globalStep - 1, 0));
    r.train = trainMetrics.values();
    model_.releaseSaved();
    if (watchdog_) watchdog_->beat("validation", progress_.globalStep);
    if (validation_) r.validation = evaluate(*validation_);
    std::string line = fmt::format("epoch {}/{}: {:.1f}s, {:.0f} samples/s, lr {:.3g}", r.epoch, options_.epochs,
                                   r.seconds, r.samplesPerSecond, r.learningRate);
    for (const auto& [k, v] : r.train) line += fmt::format(" | train {} {:.4f}", k, v);
    for (const auto& [k, v] : r.validation) line += fmt::format(" | val {} {:.4f}", k, v);
    if (root) spdlog::info("{}", line);
    if (log) log->writeEpoch(r, progress_.globalStep);
    if (watchdog_) watchdog_->beat("checkpoint", progress_.globalStep);
    if (options_.checkpointEveryEpochs > 0 && r.epoch % options_.checkpointEveryEpochs == 0) writeCheckpoint();
    results.push_back(std::move(r));
  }
  watchdog_.reset();
  if (timeline_) {
    std::string file = timeline_->save(options_.timelinePath);
    if (root) spdlog::info("timeline: {} (one file per rank; open in ui.perfetto.dev)", file);
  }
  return results;
}

std::string findCheckpoint(const std::string& dir) {
  auto p = std::filesystem::path(dir) / "checkpoint.h5";
  return std::filesystem::exists(p) ? p.string() : std::string();
}

}  // namespace kaon::train
