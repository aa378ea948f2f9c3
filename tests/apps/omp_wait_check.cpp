// omp_wait_check EXPECTED: started through Kaon's guardedMain (as every Kaon app), checks that
// the OpenMP wait policy KAON_OMP_WAIT chose (apps/omp_wait.hpp) is the one in effect: the
// description starts with EXPECTED, and an idle OpenMP worker's CPU time during serial gaps
// between parallel regions is near zero when passive, a good part of the gaps when libgomp
// spins (default, active). Each rank checks itself; a mismatch is an error (non-zero exit).
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

#include <sys/resource.h>

#include "../../apps/app_support.hpp"
#include "../../apps/omp_wait.hpp"
#include "kaon/core/error.hpp"

namespace {

double seconds(const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); }

double processCpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}

double threadCpu() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

int check(int argc, char** argv) {
  KAON_CHECK(argc == 2, "usage: omp_wait_check passive|default|active");
  const std::string expected = argv[1], policy = kaon::apps::ompWaitPolicyDescription();
  KAON_CHECK(policy.rfind(expected, 0) == 0, "OpenMP wait policy '{}', expected '{}'", policy, expected);
  omp_set_num_threads(2);
  double sink = 0;
  const int regions = 100;
  const auto gap = std::chrono::microseconds(1000);
  const double process0 = processCpu(), main0 = threadCpu();
  for (int i = 0; i < regions; ++i) {
#pragma omp parallel
    {
      double x = 0;
      for (int k = 0; k < 20000; ++k) x += k * 1e-9;
#pragma omp atomic
      sink += x;
    }
    // The main thread alone (busy, as serial code between kernels): the worker is idle.
    const auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - t0 < gap) {
    }
  }
  const double workers = (processCpu() - process0) - (threadCpu() - main0);
  const double share = workers / (regions * 1e-6 * static_cast<double>(gap.count()));
  KAON_CHECK(sink > 0, "no work done");
  std::printf("OpenMP wait %s: CPU time of the idle worker %.0f%% of the serial gaps' 100 ms\n", policy.c_str(),
              100 * share);
  if (expected == "passive") KAON_CHECK(share < 0.1, "passive waiting, yet the idle worker spun {:.0f}%", 100 * share);
  else KAON_CHECK(share > 0.2, "{} waiting, yet the idle worker spun only {:.0f}%", expected, 100 * share);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return kaon::apps::guardedMain("omp_wait_check", argc, argv, check); }
