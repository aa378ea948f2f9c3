#pragma once
// Console progress for one epoch: a live line (rate, ETA) on a terminal, or a plain line
// every N steps when the output is a log file (batch jobs).
#include <chrono>
#include <cstdint>
#include <string>

#include "kaon/train/checkpoint.hpp"
#include "kaon/train/trainer.hpp"

namespace kaon::train {

class ProgressLine {
 public:
  ProgressLine(int epoch, int epochs, std::int64_t steps, std::int64_t batchSize, int logEvery, bool enabled);
  void update(std::int64_t step, double loss);  // step: 1-based within the epoch
  void finish();                                // ends the live line
  double seconds() const;

 private:
  int epoch_, epochs_;
  std::int64_t steps_, batchSize_;
  int logEvery_;
  bool enabled_, tty_;
  std::chrono::steady_clock::time_point start_, lastDraw_;
  double lossSum_ = 0;
  std::int64_t seen_ = 0;
};

std::string formatDuration(double seconds);

// End of epoch `epoch` (0-based) for every trainer: finishes the progress line, moves the
// checkpoint position to the start of the next epoch and returns the result with its time and
// rate (samples: this rank's, times `ranks`); metrics are the caller's.
EpochResult finishEpoch(ProgressLine& progress, TrainingProgress& position, int epoch, std::int64_t samples, int ranks);  // "1:02:03" or "2:03"

}  // namespace kaon::train
