#pragma once
// Appends one record per epoch to a CSV (header written once) or JSON-lines file.
#include <fstream>
#include <map>
#include <cstdint>
#include <string>

namespace kaon::train {

struct EpochResult;

class MetricsLog {
 public:
  // Format from the extension: .csv or .jsonl. append: continue an existing file (a resumed
  // run); otherwise the file starts afresh.
  MetricsLog(std::string path, bool append);
  void write(const std::map<std::string, double>& record);
  // The record every trainer writes per epoch: epoch, step, lr, seconds, samples_per_s and the
  // result's metrics as train_<name> / val_<name>.
  void writeEpoch(const EpochResult& r, std::int64_t step);

 private:
  std::string path_;
  bool csv_;
  std::string header_;
};

}  // namespace kaon::train
