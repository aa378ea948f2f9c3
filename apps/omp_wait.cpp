#include "omp_wait.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "kaon/core/error.hpp"

namespace kaon::apps {
namespace {

constexpr const char* kMarker = "KAON_OMP_WAIT_APPLIED";  // set with the policy, for the description

int positive(const char* v) {
  if (!v || !*v) return 0;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return *end == 0 && n > 0 && n < 1 << 20 ? static_cast<int>(n) : 0;
}

// SLURM_STEP_TASKS_PER_NODE ("2(x3),1": 2 tasks on each of the first three nodes, 1 on the
// fourth), entry SLURM_NODEID of the expanded list.
int slurmLocalTasks() {
  const char* list = std::getenv("SLURM_STEP_TASKS_PER_NODE");
  const int node = std::getenv("SLURM_NODEID") ? std::atoi(std::getenv("SLURM_NODEID")) : -1;
  if (!list || node < 0) return 0;
  int index = 0;
  for (const char* p = list; *p;) {
    char* end = nullptr;
    const long tasks = std::strtol(p, &end, 10);
    if (end == p) return 0;
    long repeat = 1;
    if (std::strncmp(end, "(x", 2) == 0) {
      char* close = nullptr;
      repeat = std::strtol(end + 2, &close, 10);
      if (*close != ')') return 0;
      end = close + 1;
    }
    if (node < index + repeat) return static_cast<int>(tasks);
    index += static_cast<int>(repeat);
    p = *end == ',' ? end + 1 : end;
  }
  return 0;
}

}  // namespace

int launcherLocalRanks() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "PMI_LOCAL_SIZE"})
    if (const int n = positive(std::getenv(name))) return n;
  return slurmLocalTasks();
}

void applyOmpWaitPolicy(char** argv) {
  const char* v = std::getenv("KAON_OMP_WAIT");
  const std::string_view mode = v && *v ? v : "auto";
  KAON_CHECK(mode == "auto" || mode == "passive" || mode == "keep", "KAON_OMP_WAIT='{}': expected auto, passive or keep",
             mode);
  if (mode == "keep" || std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  const int local = launcherLocalRanks();
  if (mode == "auto" && local < 2) return;
  setenv("OMP_WAIT_POLICY", "passive", 1);
  setenv(kMarker, std::to_string(local).c_str(), 1);
  std::fflush(nullptr);
  execv("/proc/self/exe", argv);
  // Still here: the exec failed. Go on with the runtime's default, as if KAON_OMP_WAIT=keep.
  std::fprintf(stderr, "warning: KAON_OMP_WAIT=%s: re-executing with OMP_WAIT_POLICY=passive failed (%s); OpenMP "
               "keeps its default wait policy\n", std::string(mode).c_str(), std::strerror(errno));
  unsetenv("OMP_WAIT_POLICY");
  unsetenv(kMarker);
}

std::string ompWaitPolicyDescription() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  std::string d = policy && *policy ? policy : "default";
  if (std::getenv(kMarker)) d += " (set by Kaon)";
  else if (const char* spin = std::getenv("GOMP_SPINCOUNT")) d += std::string(", GOMP_SPINCOUNT=") + spin;
  return d;
}

}  // namespace kaon::apps
