#include "app_support.hpp"

#include <mpi.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <sched.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "kaon/core/error.hpp"
#include "kaon/train/trainer.hpp"

namespace kaon::apps {

int guardedMain(const char* appName, int argc, char** argv, const std::function<int(int, char**)>& body) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
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
