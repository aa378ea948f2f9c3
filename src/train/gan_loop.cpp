// GanTrainer's epoch loop (sharded batches, losses, checkpoints, stop signals, metrics log) and
// its validation: real showers against generated ones in the CaloGanMetrics.
#include <spdlog/spdlog.h>

#include <chrono>

#include "device_prefetcher.hpp"
#include "kaon/data/loader.hpp"
#include "kaon/data/sampler.hpp"
#include "kaon/ops/elementwise.hpp"
#include "kaon/train/calo_gan_metrics.hpp"
#include "kaon/train/gan_trainer.hpp"
#include "kaon/train/metrics_log.hpp"
#include "kaon/train/run_control.hpp"
#include "progress.hpp"

namespace kaon::train {
namespace {

// Training losses of an epoch, summed over steps (and ranks by one allreduce).
enum LossSlot { kDReal, kDFake, kDBce, kDEnergy, kGLoss, kGBce, kGEnergy, kGEcal, kSteps, kSlots };

void addLosses(std::vector<double>& sums, const GanStepLosses& l, const GanOptions& o) {
  sums[kDReal] += l.weighted(l.real, o);
  sums[kDFake] += l.weighted(l.fake, o);
  sums[kDBce] += 0.5 * (l.real[0] + l.fake[0]);
  sums[kDEnergy] += 0.5 * (l.real[1] + l.fake[1]);
  sums[kGLoss] += l.weighted(l.generator, o);
  sums[kGBce] += l.generator[0];
  sums[kGEnergy] += l.generator[1];
  sums[kGEcal] += l.generator[2];
  sums[kSteps] += 1;
}

std::map<std::string, double> lossValues(const std::vector<double>& s) {
  const double n = std::max(s[kSteps], 1.0);
  return {{"d_loss_real", s[kDReal] / n}, {"d_loss_fake", s[kDFake] / n}, {"d_bce", s[kDBce] / n},
          {"d_energy_mape", s[kDEnergy] / n}, {"g_loss", s[kGLoss] / n}, {"g_bce", s[kGBce] / n},
          {"g_energy_mape", s[kGEnergy] / n}, {"g_ecal_mape", s[kGEcal] / n}};
}

}  // namespace

std::map<std::string, double> GanTrainer::evaluate(const data::Dataset& dataset) {
  synchroniseBuffers();
  CaloGanMetrics metrics(dataset.inputShapes()[0], gan_.energyBins);
  // Each rank a contiguous, disjoint part; generated showers use noise keyed by the sample's
  // index and a fixed seed, so every epoch (and every rank count) compares the same draws.
  const std::int64_t total = dataset.size(), rank = comm_->rank(), ranks = comm_->size();
  const std::int64_t first = total * rank / ranks, n = total * (rank + 1) / ranks - first;
  const std::int64_t B = options_.batchSize;
  std::vector<std::int64_t> idx;
  for (std::int64_t start = 0; start < n; start += B) {
    const std::int64_t count = std::min(B, n - start);
    data::Batch batch = dataset.allocateBatch(count);
    idx.resize(count);
    for (std::int64_t i = 0; i < count; ++i) idx[i] = first + start + i;
    dataset.read(idx, batch);
    const Tensor energy = batch.targets[0].reshape(Shape{count});
    Tensor fake = generate(energy, options_.seed ^ 0x7A11ull, first + start);
    auto predictEnergy = [&](const Tensor& images) {
      Tensor e = disc_.forwardMulti({images.to(disc_.device())}, false)[1];
      Tensor host = e.device().isCpu() ? e.clone() : e.to(Device::cpu());
      ops::scaleInPlace(host, 1.0 / gan_.energyScale);
      return host.reshape(Shape{count});
    };
    Tensor predictedReal = predictEnergy(batch.inputs[0]), predictedFake = predictEnergy(fake);
    metrics.add(batch.inputs[0], fake, energy, predictedReal, predictedFake);
  }
  disc_.releaseSaved();
  metrics.reduce(*comm_);
  return metrics.values();
}

std::vector<EpochResult> GanTrainer::fit() {
  data::ShardedSampler sampler(train_.size(), {options_.shuffle, options_.seed, comm_->rank(), comm_->size(),
                                              data::RemainderPolicy::Pad});
  const bool root = comm_->rank() == 0;
  StopSignals::install();
  // A peer that died or stalls would leave this rank waiting in a collective: abort the job.
  std::unique_ptr<Watchdog> watchdog;
  if (comm_->size() > 1 && options_.stallTimeoutSeconds > 0)
    watchdog = std::make_unique<Watchdog>(options_.stallTimeoutSeconds, comm_->rank());
  auto beat = [&](const char* what) {
    if (watchdog) watchdog->beat(what, progress_.globalStep);
  };
  std::unique_ptr<MetricsLog> log;
  if (!options_.metricsFile.empty() && root)
    log = std::make_unique<MetricsLog>(options_.metricsFile, progress_.globalStep > 0);
  auto lastCheckpoint = std::chrono::steady_clock::now();
  std::vector<EpochResult> results;
  for (int epoch = static_cast<int>(progress_.epoch); epoch < options_.epochs; ++epoch) {
    std::vector<std::int64_t> order = sampler.indices(epoch);
    const std::int64_t B = options_.batchSize, size = static_cast<std::int64_t>(order.size());
    const std::int64_t steps = size / B + (!options_.dropLastBatch && size % B != 0 ? 1 : 0);
    ProgressLine progress(epoch + 1, options_.epochs, steps, B * comm_->size(), options_.logEverySteps,
                          options_.progress && root);
    data::LoaderOptions lo{B, options_.dropLastBatch, options_.prefetch, progress_.stepInEpoch};
    data::Loader loader(train_, std::move(order), lo);
    std::vector<double> sums(kSlots, 0.0);
    std::int64_t samples = 0;
    for (std::int64_t s = progress_.stepInEpoch; s < steps; ++s) {
      beat("reading data");
      const data::Batch& batch = *loader.next();
      beat("GAN step (discriminator and generator updates)");
      GanStepLosses l = trainStep(batch, progress_.globalStep);
      addLosses(sums, l, gan_);
      samples += batch.size();
      ++progress_.globalStep;
      progress_.stepInEpoch = s + 1;
      progress.update(s + 1, l.weighted(l.generator, gan_));
      if (options_.afterStep) options_.afterStep(progress_.globalStep);
      // Ranks agree on stopping and on timed checkpoints, so all of them do it at the same step.
      const double minutes =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - lastCheckpoint).count() / 60;
      std::vector<double> flags{StopSignals::requested() ? 1.0 : 0.0,
                                options_.checkpointEveryMinutes > 0 && minutes >= options_.checkpointEveryMinutes ? 1.0 : 0.0};
      if (comm_->size() > 1) flags = comm_->allreduce(flags, comm::ReduceOp::Max);
      if (flags[1] > 0 ||
          (options_.checkpointEverySteps > 0 && progress_.globalStep % options_.checkpointEverySteps == 0)) {
        writeCheckpoint();
        lastCheckpoint = std::chrono::steady_clock::now();
      }
      if (flags[0] > 0) {
        progress.finish();
        writeCheckpoint();
        interrupted_ = true;
        if (root) spdlog::warn("stopped by a signal at epoch {}, step {} of the epoch", epoch + 1, s + 1);
        return results;
      }
    }
    EpochResult r = finishEpoch(progress, progress_, epoch, samples, comm_->size());
    r.learningRate = discLr_(std::max<std::int64_t>(progress_.globalStep - 1, 0));
    if (comm_->size() > 1) sums = comm_->allreduce(sums, comm::ReduceOp::Sum);
    r.train = lossValues(sums);
    gen_.releaseSaved();
    disc_.releaseSaved();
    beat("validation");
    if (validation_) r.validation = evaluate(*validation_);
    std::string line = fmt::format("epoch {}/{}: {:.1f}s, {:.0f} samples/s", r.epoch, options_.epochs, r.seconds,
                                   r.samplesPerSecond);
    for (const auto& [k, v] : r.train) line += fmt::format(" | {} {:.4g}", k, v);
    for (const char* k : {"sampling_fraction_real", "sampling_fraction_fake", "profile_z_reldiff", "energy_mape_real"})
      if (r.validation.count(k)) line += fmt::format(" | val {} {:.4g}", k, r.validation.at(k));
    if (root) spdlog::info("{}", line);
    if (log) log->writeEpoch(r, progress_.globalStep);
    beat("checkpoint");
    if (options_.checkpointEveryEpochs > 0 && r.epoch % options_.checkpointEveryEpochs == 0) {
      writeCheckpoint();
      lastCheckpoint = std::chrono::steady_clock::now();
    }
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace kaon::train
