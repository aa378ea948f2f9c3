// kaon-bench-allreduce: the communication thread's ring allreduce (src/train/ring_allreduce.hpp)
// alone, against MPI_Allreduce of the same bytes, compute idle: wall time per allreduce (median
// over the repetitions of the slowest rank's time) and CPU time of the calling thread per
// allreduce (mean; the slowest rank), for each --mb size. The ring runs with the polling of
// the environment (KAON_RING_SPIN_US, KAON_RING_SEGMENTS, docs/distributed.md), as in training.
// Rank 0 prints a table and appends rows to --csv.
//   mpirun -np 4 kaon-bench-allreduce --mb 17.15 --mb 1 --reps 20
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "../apps/app_support.hpp"
#include "../src/train/ring_allreduce.hpp"
#include "kaon/comm/communicator.hpp"

namespace {

using namespace kaon;

double threadCpuMs() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return 1e3 * static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_nsec);
}

struct Result {
  double wallMs = 0, cpuMs = 0;  // median wall of the slowest rank; mean CPU, slowest rank
};

template <class Op>
Result measure(comm::Communicator& comm, int warmup, int reps, Op&& op) {
  for (int i = 0; i < warmup; ++i) op();
  std::vector<double> wall(static_cast<std::size_t>(reps));
  double cpu = 0;
  for (int i = 0; i < reps; ++i) {
    comm.barrier();
    const double c0 = threadCpuMs();
    const auto t0 = std::chrono::steady_clock::now();
    op();
    wall[static_cast<std::size_t>(i)] = 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    cpu += threadCpuMs() - c0;
  }
  wall = comm.allreduce(wall, comm::ReduceOp::Max);
  std::sort(wall.begin(), wall.end());
  const double meanCpu = comm.allreduce(std::vector<double>{cpu / reps}, comm::ReduceOp::Max)[0];
  return {wall[wall.size() / 2], meanCpu};
}

int run(int argc, char** argv) {
  CLI::App app{"Ring allreduce against MPI_Allreduce, compute idle"};
  std::vector<double> sizesMb{17.15, 1.0};
  int reps = 20, warmup = 3;
  std::string csv, label = "ring-vs-mpi";
  app.add_option("--mb", sizesMb, "Buffer sizes in MiB of float32 (repeatable)")->check(CLI::PositiveNumber);
  app.add_option("--reps", reps, "Measured allreduces per size and algorithm")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "Unmeasured allreduces first")->check(CLI::NonNegativeNumber);
  app.add_option("--label", label, "Free text put in the CSV rows");
  app.add_option("--csv", csv, "Append the result rows to this CSV file (rank 0)");
  CLI11_PARSE(app, argc, argv);

  auto comm = comm::makeDefaultCommunicator();
  KAON_CHECK(comm->size() > 1, "kaon-bench-allreduce: run it under mpirun with 2 or more ranks");
  const std::string header = "label,ranks,mib,algo,wall_ms,cpu_ms,bus_gbps";
  std::vector<std::string> rows;
  for (double mb : sizesMb) {
    const auto n = static_cast<std::int64_t>(mb * (1 << 20) / 4);
    Tensor buffer = Tensor::full(Shape{n}, 1.0f / static_cast<float>(comm->rank() + 1)), scratch;
    const Result mpi = measure(*comm, warmup, reps, [&] { comm->allreduce(buffer, comm::ReduceOp::Average); });
    const Result ring = measure(*comm, warmup, reps, [&] {
      train::ringAllreduce(*comm, buffer, comm::ReduceOp::Average, scratch, train::ringPollingFromEnv());
    });
    for (const auto& [algo, r] : {std::pair{"MPI_Allreduce", mpi}, std::pair{"ring", ring}}) {
      const double bus = 2.0 * (comm->size() - 1) / comm->size() * static_cast<double>(n) * 4 / (r.wallMs * 1e-3) / 1e9;
      rows.push_back(fmt::format("{},{},{:.2f},{},{:.3f},{:.3f},{:.2f}", label, comm->size(), mb, algo, r.wallMs,
                                 r.cpuMs, bus));
    }
  }
  if (comm->rank() == 0) {
    std::printf("%s\n", header.c_str());
    for (const auto& r : rows) std::printf("%s\n", r.c_str());
    if (!csv.empty()) {
      const bool fresh = !std::filesystem::exists(csv) || std::filesystem::file_size(csv) == 0;
      std::ofstream out(csv, std::ios::app);
      if (fresh) out << header << "\n";
      for (const auto& r : rows) out << r << "\n";
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return kaon::apps::guardedMain("kaon-bench-allreduce", argc, argv, run); }
