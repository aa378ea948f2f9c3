#include "bench_common.hpp"

#include <cblas.h>
#include <fmt/format.h>

#include <cstring>
#include <map>
#include <vector>

#include "kaon/core/runtime.hpp"

namespace kaon::bench {
namespace {

struct Key {
  std::string group, impl, rest;
};

Key split(const std::string& name) {
  auto a = name.find('/'), b = name.find('/', a == std::string::npos ? a : a + 1);
  if (a == std::string::npos || b == std::string::npos) return {name, "", ""};
  return {name.substr(0, a), name.substr(a + 1, b - a - 1), name.substr(b + 1)};
}

// Google Benchmark 1.7 (Debian 12) flags failed runs with `error_occurred`; 1.8 (Ubuntu 24.04)
// replaced it with `skipped`. Pick whichever the installed version has.
template <class R>
auto runFailed(const R& r, int) -> decltype(static_cast<bool>(r.error_occurred)) {
  return r.error_occurred;
}
template <class R>
auto runFailed(const R& r, long) -> decltype(static_cast<bool>(r.skipped)) {
  return static_cast<bool>(r.skipped);
}

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter(std::string subject, std::string baseline)
      : subject_(std::move(subject)), baseline_(std::move(baseline)) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      if (runFailed(r, 0)) continue;
      auto it = r.counters.find("GFLOP/s");
      if (it == r.counters.end()) continue;
      bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      if (r.run_type == Run::RT_Aggregate && !median) continue;
      Key k = split(r.run_name.function_name);
      const std::string key = k.group + "/" + k.rest;
      if (!table_.count(key)) order_.push_back(key);
      auto& slot = table_[key];
      // A median aggregate replaces the single repetitions seen before it.
      if (median || !medianSeen_[r.run_name.function_name]) slot[k.impl] = it->second.value;
      if (median) medianSeen_[r.run_name.function_name] = true;
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    auto& out = GetOutputStream();
    out << fmt::format("\n{:<44} {:>10} {:>10} {:>8}\n", "case (GFLOP/s)", subject_, baseline_,
                       fmt::format("{}/{}", subject_.substr(0, 3), baseline_.substr(0, 4)));
    for (const auto& key : order_) {
      const auto& m = table_[key];
      auto s = m.find(subject_), b = m.find(baseline_);
      std::string sv = s == m.end() ? "-" : fmt::format("{:.1f}", s->second);
      std::string bv = b == m.end() ? "-" : fmt::format("{:.1f}", b->second);
      std::string ratio = s != m.end() && b != m.end() && b->second > 0 ? fmt::format("{:.2f}", s->second / b->second) : "-";
      out << fmt::format("{:<44} {:>10} {:>10} {:>8}\n", key, sv, bv, ratio);
    }
    out.flush();
  }

 private:
  std::string subject_, baseline_;
  std::vector<std::string> order_;
  std::map<std::string, std::map<std::string, double>> table_;
  std::map<std::string, bool> medianSeen_;
};

}  // namespace

int setupThreads(int& argc, char** argv) {
  int threads = 0, out = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) threads = std::atoi(argv[i] + 10);
    else argv[out++] = argv[i];
  }
  argc = out;
  setNumThreads(threads);
  openblas_set_num_threads(numThreads());
  benchmark::AddCustomContext("threads (kaon and openblas)", std::to_string(numThreads()));
  benchmark::AddCustomContext("openblas", openblas_get_config());
  return numThreads();
}

int runAndCompare(int argc, char** argv, const std::string& subject, const std::string& baseline) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter(subject, baseline);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}

}  // namespace kaon::bench
