// Master/worker training, the servers: the Downpour/EASGD master, and for hierarchical
// Downpour the top master and the sub-masters (protocol in async_trainer.hpp).
#include <spdlog/spdlog.h>

#include <cmath>

#include "async_protocol.hpp"
#include "kaon/ops/elementwise.hpp"
#include "kaon/optim/clip.hpp"
#include "kaon/train/async_trainer.hpp"
#include "kaon/train/metrics_log.hpp"
#include "kaon/train/run_control.hpp"

namespace kaon::train {
using namespace async;

// The (top) master's epochs: an epoch is stepsPerEpoch updates; at each, the reported training
// loss, the staleness so far and a validation of the master's weights are logged, and a
// checkpoint is written.
struct AsyncTrainer::Epochs {
  explicit Epochs(AsyncTrainer& t)
      : t_(t), budget_(t.stepsPerEpoch_ * t.options_.epochs), done_(std::min(t.updates_, budget_) / t.stepsPerEpoch_) {
    if (!t.options_.metricsFile.empty()) log_ = std::make_unique<MetricsLog>(t.options_.metricsFile, t.updates_ > 0);
  }
  // After updates_ changed: finishes every epoch it crossed.
  void advance() {
    const std::int64_t now = std::min(t_.updates_, budget_) / t_.stepsPerEpoch_;
    for (std::int64_t e = done_ + 1; e <= now; ++e) finish(static_cast<int>(e));
    done_ = std::max(done_, now);
  }
  std::vector<EpochResult> results;

 private:
  void finish(int epoch) {
    EpochResult r;
    r.epoch = epoch;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    r.samplesPerSecond = static_cast<double>(t_.samples_) / std::max(r.seconds, 1e-9);
    r.learningRate = t_.learningRate_(std::max<std::int64_t>(t_.updates_ - 1, 0));
    r.train["loss"] = t_.samples_ ? t_.lossSum_ / static_cast<double>(t_.samples_) : NAN;
    t_.finishStats();
    const bool downpour = t_.async_.mode == AsyncOptions::Mode::Downpour;
    r.train["staleness_mean"] = t_.stats_.meanStaleness;
    r.train["staleness_max"] = static_cast<double>(t_.stats_.maxStaleness);
    if (t_.async_.masters > 1) {
      r.train["exchange_staleness_mean"] = t_.stats_.meanExchangeStaleness;
      r.train["exchange_staleness_max"] = static_cast<double>(t_.stats_.maxExchangeStaleness);
    }
    t_.watchdog_->beat("validation", t_.updates_);
    r.validation = t_.evaluate();
    std::string line = fmt::format("epoch {}/{} ({}): {:.1f}s, {:.0f} samples/s | train loss {:.4f}", epoch,
                                   t_.options_.epochs, downpour ? t_.strategyName() : "easgd center", r.seconds,
                                   r.samplesPerSecond, r.train["loss"]);
    if (downpour)
      line += fmt::format(" | staleness mean {:.2f} max {}", t_.stats_.meanStaleness, t_.stats_.maxStaleness);
    if (t_.async_.masters > 1)
      line += fmt::format(" | exchange staleness mean {:.2f} max {}", t_.stats_.meanExchangeStaleness,
                          t_.stats_.maxExchangeStaleness);
    for (const auto& [k, v] : r.validation) line += fmt::format(" | val {} {:.4f}", k, v);
    spdlog::info("{}", line);
    if (log_) log_->writeEpoch(r, t_.updates_);
    if (t_.options_.checkpointEveryEpochs > 0 && epoch % t_.options_.checkpointEveryEpochs == 0) t_.saveState();
    results.push_back(std::move(r));
    t_.lossSum_ = 0;
    t_.samples_ = 0;
    start_ = std::chrono::steady_clock::now();
  }

  AsyncTrainer& t_;
  std::int64_t budget_, done_;
  std::unique_ptr<MetricsLog> log_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

void AsyncTrainer::serveWorkers(int workers, std::int64_t quota, const std::function<void()>& afterUpdate) {
  const std::int64_t P = model_.parameterCount();
  const bool downpour = async_.mode == AsyncOptions::Mode::Downpour;
  const std::int64_t budget = stepsPerEpoch_ * options_.epochs;
  Tensor header = Tensor::empty(Shape{kHeaderSize}, DType::Float64), reply = Tensor::empty(Shape{kReplySize}, DType::Float64);
  Tensor payload = Tensor::empty(Shape{P}, model_.parameters().dtype(), model_.device());
  Tensor diff = Tensor::empty(Shape{P}, model_.parameters().dtype(), model_.device());
  auto answer = [&](int dst, double command) {
    reply.copyFrom(Tensor::fromVector<double>(Shape{kReplySize}, {command, static_cast<double>(version_)}));
    comm_.send(reply, dst, kTagReply);
  };
  for (int stopped = 0; stopped < workers;) {
    watchdog_->beat("waiting for worker messages", updates_);
    int src = comm_.recvAny(header, kTagHeader);
    comm_.recv(payload, src, kTagPayload);
    auto h = header.toVector<double>();
    if (StopSignals::requested()) interrupted_ = true;
    if (updates_ >= quota || interrupted_) {  // this worker's last message: nothing stays in flight
      answer(src, kStop);
      ++stopped;
      continue;
    }
    lossSum_ += h[3];
    samples_ += static_cast<std::int64_t>(h[4]);
    double command = kContinue;
    if (downpour) {
      auto staleness = version_ - static_cast<std::int64_t>(h[1]);
      stalenessSum_ += static_cast<double>(staleness);
      stalenessSinceExchange_ += static_cast<double>(staleness);
      stats_.maxStaleness = std::max(stats_.maxStaleness, staleness);
      model_.gradients().copyFrom(payload);
      if (options_.clipNorm > 0)
        optim::clipGradientNorm(model_.gradients(), model_.trainableRanges(), options_.clipNorm);
      // A sub-master's progress through its share maps onto the schedule's global steps.
      double lr = learningRate_(quota == budget ? updates_ : updates_ * budget / std::max<std::int64_t>(quota, 1));
      if (async_.stalenessScaledLr) lr /= std::max<double>(1.0, static_cast<double>(staleness));
      optimizer_.step(lr);
      ++version_;
      ++updates_;
      ++stats_.updates;
      if (++workerSteps_[src] % async_.pullEvery == 0) command = kSendWeights;
    } else {
      // Elastic move of the center towards the worker: diff = alpha (x_i - c); c += diff.
      ops::axpby(async_.alpha, payload, -async_.alpha, model_.parameters(), diff);
      ops::addInPlace(model_.parameters(), diff);
      const auto steps = static_cast<std::int64_t>(h[2]);
      ++version_;
      updates_ += steps;
      workerSteps_[src] += steps;
      stats_.updates += 1;
      command = kElastic;
    }
    answer(src, command);
    if (command == kSendWeights) comm_.send(model_.parameters(), src, kTagReplyPayload);
    if (command == kElastic) comm_.send(diff, src, kTagReplyPayload);
    if (options_.afterStep) options_.afterStep(updates_);
    afterUpdate();
  }
}

std::vector<EpochResult> AsyncTrainer::runMaster() {
  Epochs epochs(*this);
  serveWorkers(comm_.size() - 1, stepsPerEpoch_ * options_.epochs, [&] { epochs.advance(); });
  finishStats();
  comm_.barrier();  // every worker has its STOP: nothing is in flight
  if (interrupted_) {
    spdlog::warn("stopped by a signal after {} updates; {}", updates_,
                 options_.checkpointDir.empty() ? "no checkpoint directory is configured"
                                                : "checkpoint written to " + checkpointPath());
    saveState();
  }
  return std::move(epochs.results);
}

std::vector<EpochResult> AsyncTrainer::runTopMaster() {
  Epochs epochs(*this);
  const std::int64_t P = model_.parameterCount();
  Tensor header = Tensor::empty(Shape{kUpHeaderSize}, DType::Float64), reply = Tensor::empty(Shape{kReplySize}, DType::Float64);
  Tensor delta = Tensor::empty(Shape{P}, model_.parameters().dtype(), model_.device());
  for (int finished = 0; finished < async_.masters;) {
    watchdog_->beat("waiting for sub-master exchanges", updates_);
    int src = comm_.recvAny(header, kTagUpHeader);
    comm_.recv(delta, src, kTagUpPayload);
    auto h = header.toVector<double>();
    if (StopSignals::requested()) interrupted_ = true;
    auto staleness = version_ - static_cast<std::int64_t>(h[1]);
    exchangeStalenessSum_ += static_cast<double>(staleness);
    stats_.maxExchangeStaleness = std::max(stats_.maxExchangeStaleness, staleness);
    ++stats_.exchanges;
    ops::addInPlace(model_.parameters(), delta);  // x_top += x_s - x_s(last sync)
    ++version_;
    updates_ += static_cast<std::int64_t>(h[2]);
    lossSum_ += h[3];
    samples_ += static_cast<std::int64_t>(h[4]);
    stalenessSum_ += h[5];
    stats_.maxStaleness = std::max(stats_.maxStaleness, static_cast<std::int64_t>(h[6]));
    stats_.updates += static_cast<std::int64_t>(h[7]);
    const bool last = h[0] == kLastChange;
    // An interrupted run stops each sub-master at its next exchange; it then stops its workers
    // and sends its last change, answered STOP too.
    const double command = last || interrupted_ ? kStop : kSendWeights;
    reply.copyFrom(Tensor::fromVector<double>(Shape{kReplySize}, {command, static_cast<double>(version_)}));
    comm_.send(reply, src, kTagDownReply);
    if (command == kSendWeights) comm_.send(model_.parameters(), src, kTagDownPayload);
    if (last) ++finished;
    if (options_.afterStep) options_.afterStep(updates_);
    epochs.advance();
  }
  finishStats();
  comm_.barrier();  // every worker and sub-master has its STOP
  if (interrupted_) {
    spdlog::warn("stopped by a signal after {} updates", updates_);
    saveState();
  }
  return std::move(epochs.results);
}

void AsyncTrainer::exchangeWithTop(bool last) {
  watchdog_->beat("exchanging with the top master", updates_);
  Tensor delta = Tensor::empty(model_.parameters().shape(), model_.parameters().dtype(), model_.device());
  ops::axpby(1.0, model_.parameters(), -1.0, lastSync_, delta);
  Tensor header = Tensor::fromVector<double>(
      Shape{kUpHeaderSize},
      {last ? kLastChange : kChange, static_cast<double>(topVersion_), static_cast<double>(sinceExchange_), lossSum_,
       static_cast<double>(samples_), stalenessSinceExchange_, static_cast<double>(stats_.maxStaleness),
       static_cast<double>(sinceExchange_)});
  comm_.send(header, 0, kTagUpHeader);
  comm_.send(delta, 0, kTagUpPayload);
  sinceExchange_ = 0;
  stalenessSinceExchange_ = 0;
  lossSum_ = 0;
  samples_ = 0;
  Tensor reply = Tensor::empty(Shape{kReplySize}, DType::Float64);
  comm_.recv(reply, 0, kTagDownReply);
  auto r = reply.toVector<double>();
  if (r[0] == kSendWeights) {
    comm_.recv(model_.parameters(), 0, kTagDownPayload);
    lastSync_.copyFrom(model_.parameters());
    topVersion_ = static_cast<std::int64_t>(r[1]);
  } else if (!last) {
    interrupted_ = true;  // the top master stops the run: stop the workers, then send the last change
  }
}

void AsyncTrainer::runSubMaster() {
  int workers = 0;
  for (int r = firstWorker(); r < comm_.size(); ++r) workers += serverOf(r) == comm_.rank() ? 1 : 0;
  lastSync_ = model_.parameters().clone();
  serveWorkers(workers, groupBudget(comm_.rank()), [&] {
    if (++sinceExchange_ >= async_.exchangeEvery && !interrupted_) exchangeWithTop(false);
  });
  exchangeWithTop(true);
  finishStats();
  comm_.barrier();
}

}  // namespace kaon::train
