#pragma once
// What every Kaon app's main() shares: MPI start-up/shutdown, turning exceptions into a
// clear message and a non-zero exit (aborting the whole MPI job so no rank hangs).
#include <functional>
#include <string>

#include "kaon/comm/communicator.hpp"

namespace kaon::apps {

// Applies KAON_OMP_WAIT first (apps/omp_wait.hpp: may re-execute the program once with
// OMP_WAIT_POLICY=passive when ranks share a node), then initialises MPI, runs body,
// finalises; any exception is printed with the rank and the job is aborted with exit code 1
// (MPI_Abort when more than one rank runs).
int guardedMain(const char* appName, int argc, char** argv, const std::function<int(int, char**)>& body);

// CPU threads for one rank: the cores this process may use, shared among the node's ranks.
int defaultThreadsPerRank(const comm::Communicator& comm);

// Fault injection for testing a job's failure handling: KAON_FAULT_INJECT="rank:step:kind"
// makes that rank, after that global step, throw (kind "throw"), exit without a word
// ("exit"), or stop making progress ("hang"). Unset: nothing happens.
// Returns the hook to put in TrainerOptions::afterStep (empty when the variable is unset).
std::function<void(std::int64_t)> faultInjectionHook(int rank);

// "auto": <dir>/checkpoint.h5 if it exists; "never": none; otherwise the given path (must exist).
std::string resolveResume(const std::string& resume, const std::string& checkpointDir);

}  // namespace kaon::apps
