#include "kaon/train/run_control.hpp"

#include <mpi.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>

namespace kaon::train {
namespace {
volatile std::sig_atomic_t gSignal = 0;
extern "C" void onStopSignal(int sig) { gSignal = sig; }
}  // namespace

void StopSignals::install() {
  struct sigaction sa {};
  sa.sa_handler = onStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // let interrupted system calls (file reads, MPI polling) carry on
  for (int s : {SIGTERM, SIGUSR1, SIGINT}) sigaction(s, &sa, nullptr);
}

bool StopSignals::requested() { return gSignal != 0; }
int StopSignals::signalNumber() { return gSignal; }
void StopSignals::reset() { gSignal = 0; }

Watchdog::Watchdog(double timeoutSeconds, int rank)
    : timeout_(timeoutSeconds), rank_(rank), last_(std::chrono::steady_clock::now()) {
  if (timeout_ > 0) thread_ = std::thread([this] { run(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::beat(const char* activity, long long step) {
  if (timeout_ <= 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  last_ = std::chrono::steady_clock::now();
  activity_ = activity;
  step_ = step;
}

void Watchdog::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    wake_.wait_for(lock, std::chrono::milliseconds(500));
    if (stop_) return;
    double idle = std::chrono::duration<double>(std::chrono::steady_clock::now() - last_).count();
    if (idle < timeout_) continue;
    std::fprintf(stderr,
                 "kaon: rank %d made no progress for %.0f s (stall timeout %.0f s) while in '%s' at step %lld; "
                 "another rank has probably died or stalled. Aborting the job.\n",
                 rank_, idle, timeout_, activity_, step_);
    std::fflush(stderr);
    int initialised = 0, finalised = 0;
    MPI_Initialized(&initialised);
    MPI_Finalized(&finalised);
    if (initialised && !finalised) MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);
  }
}

}  // namespace kaon::train
