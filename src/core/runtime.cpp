#include "kaon/core/runtime.hpp"

#include <omp.h>
#include <sched.h>

#include <Eigen/Core>
#include <atomic>

#include "kaon/core/error.hpp"

namespace kaon {
namespace {

int defaultThreads() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1, omp_get_num_procs());
}

std::atomic<int> gThreads{0};

}  // namespace

void setNumThreads(int threads) {
  int n = threads > 0 ? threads : defaultThreads();
  gThreads = n;
  omp_set_num_threads(n);
  Eigen::setNbThreads(n);
}

int numThreads() {
  if (gThreads == 0) setNumThreads(0);
  return gThreads;
}

}  // namespace kaon
