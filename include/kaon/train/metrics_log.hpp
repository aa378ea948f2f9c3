#pragma once
// Appends one record per epoch to a CSV (header written once) or JSON-lines file.
#include <fstream>
#include <map>
#include <string>

namespace kaon::train {

class MetricsLog {
 public:
  explicit MetricsLog(std::string path);  // format from the extension: .csv or .jsonl
  void write(const std::map<std::string, double>& record);

 private:
  std::string path_;
  bool csv_;
  std::string header_;
};

}  // namespace kaon::train
