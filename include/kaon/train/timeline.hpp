#pragma once
// Per-rank trace of where a step's time goes (compute, data wait, each gradient bucket's
// allreduce), written in the Chrome trace-event format that chrome://tracing and Perfetto
// (ui.perfetto.dev) open. One file per rank: <path> with ".rank<N>" before the extension.
#include <chrono>
#include <string>
#include <vector>

namespace kaon::train {

class Timeline {
 public:
  explicit Timeline(int rank);
  using Clock = std::chrono::steady_clock;
  // A complete event [start, end) on a lane (0: compute/data, 1: communication).
  void add(const std::string& name, const char* category, Clock::time_point start, Clock::time_point end, int lane = 0);
  // Writes the trace; returns the file name used.
  std::string save(const std::string& path) const;
  std::size_t size() const { return events_.size(); }

  // Records [construction, destruction) of a scope as one event.
  class Span {
   public:
    Span(Timeline* t, const char* name, const char* category) : t_(t), name_(name), category_(category), start_(Clock::now()) {}
    ~Span() {
      if (t_) t_->add(name_, category_, start_, Clock::now());
    }
    Span(const Span&) = delete;
    Span& operator=(const Span&) = delete;

   private:
    Timeline* t_;
    const char* name_;
    const char* category_;
    Clock::time_point start_;
  };

 private:
  struct Event {
    std::string name;
    const char* category;
    double startUs, durationUs;
    int lane;
  };
  int rank_;
  Clock::time_point origin_;
  std::vector<Event> events_;
};

// Accumulated step-time split (seconds), for benchmarks and logs.
struct StepTimes {
  double data = 0;           // waiting for the batch
  double compute = 0;        // forward + loss + backward (communication overlapped inside)
  double exposedComm = 0;    // waiting for gradient allreduces after backward
  double optimizer = 0;      // clipping + optimizer step
  long long steps = 0;
};

// When one step's backward ended and when its averaged gradients were there (after the wait
// for the buckets in flight); recorded per step with TrainerOptions::recordStepMarks, so a
// benchmark can split that wait into the wait for the slowest rank and exposed communication.
struct StepMark {
  std::chrono::steady_clock::time_point backwardEnd, gradientsReady;
};

}  // namespace kaon::train
