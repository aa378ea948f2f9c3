#pragma once
// Appends one record per epoch to a CSV (header written once) or JSON-lines file.
#include <fstream>
#include <map>
#include <string>

namespace kaon::train {

class MetricsLog {
 public:
  // Format from the extension: .csv or .jsonl. append: continue an existing file (a resumed
  // run); otherwise the file starts afresh.
  MetricsLog(std::string path, bool append);
  void write(const std::map<std::string, double>& record);

 private:
  std::string path_;
  bool csv_;
  std::string header_;
};

}  // namespace kaon::train
