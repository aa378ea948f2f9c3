#include "kaon/train/timeline.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "kaon/core/error.hpp"

namespace kaon::train {

Timeline::Timeline(int rank) : rank_(rank), origin_(Clock::now()) {}

void Timeline::add(const std::string& name, const char* category, Clock::time_point start, Clock::time_point end,
                   int lane) {
  auto us = [&](Clock::time_point t) { return std::chrono::duration<double, std::micro>(t - origin_).count(); };
  events_.push_back({name, category, us(start), us(end) - us(start), lane});
}

std::string Timeline::save(const std::string& path) const {
  std::filesystem::path p(path);
  std::string file = (p.parent_path() / (p.stem().string() + ".rank" + std::to_string(rank_) + p.extension().string())).string();
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  std::ofstream out(file);
  KAON_CHECK(out.good(), "cannot write timeline '{}'", file);
  out << "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n";
  out << fmt::format(R"({{"name": "process_name", "ph": "M", "pid": {}, "args": {{"name": "rank {}"}}}})", rank_, rank_);
  for (int lane = 0; lane < 2; ++lane)
    out << fmt::format(",\n{{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": {}, \"tid\": {}, \"args\": {{\"name\": \"{}\"}}}}",
                       rank_, lane, lane == 0 ? "compute + data" : "communication");
  for (const auto& e : events_)
    out << fmt::format(",\n{{\"name\": \"{}\", \"cat\": \"{}\", \"ph\": \"X\", \"ts\": {:.1f}, \"dur\": {:.1f}, \"pid\": {}, \"tid\": {}}}",
                       e.name, e.category, e.startUs, e.durationUs, rank_, e.lane);
  out << "\n]}\n";
  KAON_CHECK(out.good(), "cannot write timeline '{}'", file);
  return file;
}

}  // namespace kaon::train
