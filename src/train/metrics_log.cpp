#include "kaon/train/metrics_log.hpp"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>

#include "kaon/core/error.hpp"
#include "kaon/train/trainer.hpp"

namespace kaon::train {

MetricsLog::MetricsLog(std::string path, bool append) : path_(std::move(path)) {
  namespace fs = std::filesystem;
  std::string ext = fs::path(path_).extension().string();
  KAON_CHECK(ext == ".csv" || ext == ".jsonl", "metrics file '{}' must end in .csv or .jsonl", path_);
  csv_ = ext == ".csv";
  if (fs::path(path_).has_parent_path()) fs::create_directories(fs::path(path_).parent_path());
  std::ofstream touch(path_, append ? std::ios::app : std::ios::trunc);
  KAON_CHECK(touch.good(), "cannot write metrics file '{}'", path_);
  if (csv_ && fs::file_size(path_) > 0) {  // appending to a resumed run: keep its header
    std::ifstream in(path_);
    std::getline(in, header_);
  }
}

void MetricsLog::write(const std::map<std::string, double>& record) {
  std::ofstream out(path_, std::ios::app);
  KAON_CHECK(out.good(), "cannot write metrics file '{}'", path_);
  // Non-finite values (an AUC with one class present) are "nan" in CSV and null in JSON.
  auto number = [&](double v) { return std::isfinite(v) ? fmt::format("{:.9g}", v) : std::string(csv_ ? "nan" : "null"); };
  if (csv_) {
    std::string header, row;
    for (const auto& [k, v] : record) {
      if (!header.empty()) header += ',', row += ',';
      header += k;
      row += number(v);
    }
    if (header_.empty()) {
      out << header << "\n";
      header_ = header;
    }
    KAON_CHECK(header == header_, "metrics file '{}' has columns '{}', this run writes '{}'", path_, header_, header);
    out << row << "\n";
  } else {
    std::string line = "{";
    for (const auto& [k, v] : record)
      line += fmt::format("{}\"{}\": {}", line.size() > 1 ? ", " : "", k, number(v));
    out << line << "}\n";
  }
}

void MetricsLog::writeEpoch(const EpochResult& r, std::int64_t step) {
  std::map<std::string, double> rec{{"epoch", r.epoch}, {"step", static_cast<double>(step)},
                                    {"lr", r.learningRate}, {"seconds", r.seconds},
                                    {"samples_per_s", r.samplesPerSecond}};
  for (const auto& [k, v] : r.train) rec["train_" + k] = v;
  for (const auto& [k, v] : r.validation) rec["val_" + k] = v;
  write(rec);
}

}  // namespace kaon::train
