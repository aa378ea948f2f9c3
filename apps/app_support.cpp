#include "app_support.hpp"

#include <mpi.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sched.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "kaon/core/error.hpp"
#include "kaon/train/trainer.hpp"
#include "omp_wait.hpp"

namespace kaon::apps {

int guardedMain(const char* appName, int argc, char** argv, const std::function<int(int, char**)>& body) {
  // Before MPI and before any OpenMP region: may re-execute the program (apps/omp_wait.hpp).
  // A bad KAON_OMP_WAIT fails every rank alike, before any of them waits for another.
  try {
    applyOmpWaitPolicy(argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", appName, e.what());
    return 1;
  }
  // MPI_THREAD_MULTIPLE: synchronous training reduces gradient buckets on a communication
  // thread while the training thread keeps calling MPI (docs/distributed.md).
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (provided < MPI_THREAD_MULTIPLE && size > 1 && rank == 0)
    std::fprintf(stderr, "%s: warning: this MPI provides thread level %d, not MPI_THREAD_MULTIPLE (%d): synchronous "
                 "training needs trainer.allreduce: nonblocking (the default, thread, is refused)\n",
                 appName, provided, MPI_THREAD_MULTIPLE);
  int code = 0;
  try {
    code = body(argc, argv);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error%s: %s\n", appName, size > 1 ? (" on rank " + std::to_string(rank)).c_str() : "",
                 e.what());
    std::fflush(stderr);
    // One failing rank must end the whole job promptly, never leave the others waiting.
    if (size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
    code = 1;
  }
  MPI_Finalize();
  return code;
}

int defaultThreadsPerRank(const comm::Communicator& comm) {
  // The affinity mask is per process: when mpirun binds each rank to its own cores this is
  // already that rank's share; when ranks are unbound they all see every core, so divide.
  int visible = std::thread::hardware_concurrency();
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) visible = CPU_COUNT(&set);
  int perRank = std::max(1, visible / std::max(1, comm.localSize()));
  return visible < static_cast<int>(std::thread::hardware_concurrency()) ? visible : perRank;
}

std::string resolveResume(const std::string& resume, const std::string& checkpointDir) {
  if (resume == "never") return "";
  if (resume == "auto") {
    if (checkpointDir.empty()) return "";
    std::string found = train::findCheckpoint(checkpointDir);
    if (!found.empty()) spdlog::info("found checkpoint {}: resuming (set trainer.checkpoint.resume=never to start over)", found);
    return found;
  }
  KAON_CHECK(std::filesystem::exists(resume), "trainer.checkpoint.resume: no checkpoint at '{}'", resume);
  return resume;
}

}  // namespace kaon::apps

namespace kaon::apps {

std::function<void(std::int64_t)> faultInjectionHook(int rank) {
  const char* spec = std::getenv("KAON_FAULT_INJECT");
  if (!spec || !*spec) return {};
  int targetRank = -1;
  long long step = -1;
  char kind[16] = {};
  KAON_CHECK(std::sscanf(spec, "%d:%lld:%15s", &targetRank, &step, kind) == 3,
             "KAON_FAULT_INJECT='{}': expected rank:step:kind (kind: throw, exit, hang)", spec);
  std::string k = kind;
  KAON_CHECK(k == "throw" || k == "exit" || k == "hang", "KAON_FAULT_INJECT: unknown kind '{}'", k);
  if (rank != targetRank) return {};
  return [step, k, rank](std::int64_t globalStep) {
    if (globalStep != step) return;
    if (k == "throw") KAON_FAIL("injected fault on rank {} after step {}", rank, globalStep);
    if (k == "exit") std::_Exit(3);  // dies without a word, as a crashed or killed rank would
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));  // hang
  };
}

}  // namespace kaon::apps
