#include "progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace kaon::train {

std::string formatDuration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  auto total = static_cast<long long>(s + 0.5);
  long long h = total / 3600, m = total / 60 % 60, sec = total % 60;
  return h ? fmt::format("{}:{:02}:{:02}", h, m, sec) : fmt::format("{}:{:02}", m, sec);
}

ProgressLine::ProgressLine(int epoch, int epochs, std::int64_t steps, std::int64_t batchSize, int logEvery,
                           bool enabled)
    : epoch_(epoch), epochs_(epochs), steps_(steps), batchSize_(batchSize), logEvery_(std::max(1, logEvery)),
      enabled_(enabled), tty_(isatty(fileno(stdout)) != 0),
      start_(std::chrono::steady_clock::now()), lastDraw_(start_) {}

double ProgressLine::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressLine::update(std::int64_t step, double loss) {
  lossSum_ += loss;
  ++seen_;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  bool last = step == steps_;
  if (tty_ ? (now - lastDraw_ < std::chrono::milliseconds(200) && !last) : (step % logEvery_ != 0 && !last)) return;
  lastDraw_ = now;
  double elapsed = seconds();
  double rate = seen_ * static_cast<double>(batchSize_) / std::max(elapsed, 1e-9);
  double eta = elapsed / seen_ * static_cast<double>(steps_ - step);
  constexpr int kWidth = 24;
  int filled = static_cast<int>(kWidth * step / std::max<std::int64_t>(steps_, 1));
  std::string bar = std::string(filled, '=') + (filled < kWidth ? ">" : "") + std::string(std::max(0, kWidth - filled - 1), ' ');
  std::string line = fmt::format("epoch {}/{} [{}] {}/{} loss {:.4f} | {:.0f} samples/s | ETA {}", epoch_, epochs_, bar,
                                 step, steps_, lossSum_ / seen_, rate, formatDuration(eta));
  if (tty_)
    std::fputs(("\r" + line + "\033[K").c_str(), stdout);
  else
    std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

void ProgressLine::finish() {
  if (enabled_ && tty_) std::fputs("\n", stdout);
  std::fflush(stdout);
}

EpochResult finishEpoch(ProgressLine& progress, TrainingProgress& position, int epoch, std::int64_t samples, int ranks) {
  progress.finish();
  position.epoch = epoch + 1;
  position.stepInEpoch = 0;
  EpochResult r;
  r.epoch = epoch + 1;
  r.seconds = progress.seconds();
  r.samplesPerSecond = static_cast<double>(samples) * ranks / std::max(r.seconds, 1e-9);
  return r;
}

}  // namespace kaon::train
