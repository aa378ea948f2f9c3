#pragma once
// How a run stops early, safely:
//  - StopSignals: SIGTERM/SIGUSR1/SIGINT (what batch systems send before the walltime kill)
//    set a flag; the trainer finishes the current step, agrees with the other ranks, writes a
//    checkpoint and returns. Exit code kExitInterrupted tells a job script to requeue.
//  - Watchdog: a thread that aborts the whole job (MPI_Abort) with a message naming the rank
//    and what it was doing when no progress was reported for `timeout` seconds, so a stalled
//    or lost rank never leaves the others hanging.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace kaon::train {

inline constexpr int kExitInterrupted = 75;  // EX_TEMPFAIL: "try again" (requeue)

class StopSignals {
 public:
  static void install();           // idempotent
  static bool requested();         // a stop signal arrived in this process
  static int signalNumber();       // which one (0 if none)
  static void reset();             // for tests
};

class Watchdog {
 public:
  // timeoutSeconds <= 0 disables it. rank is used in the message.
  Watchdog(double timeoutSeconds, int rank);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  // Records progress and what the rank is doing now ("step 120: gradient allreduce").
  void beat(const char* activity, long long step);

 private:
  void run();
  double timeout_;
  int rank_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::chrono::steady_clock::time_point last_;
  const char* activity_ = "starting";
  long long step_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace kaon::train
