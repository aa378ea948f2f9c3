// kaon-bench-scaling: data-parallel step time of the jet CNN under mpirun, split into compute,
// the wait after backward (itself split into load imbalance, the wait for the slowest rank's
// backward, and exposed communication, the allreduce time not hidden behind backward), data
// wait and optimizer, with gradient communication on or off, and the bus bandwidth of a plain
// MPI_Allreduce of the gradient bytes.
// Rank 0 prints one result line and appends it to --csv. scripts/scaling.sh drives sweeps.
//   mpirun -np 4 kaon-bench-scaling --batch-per-rank 32 --steps 10 --threads 2 --csv scaling.csv
#include <CLI/CLI.hpp>
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include <sys/resource.h>

#include "../apps/app_support.hpp"
#include "../apps/omp_wait.hpp"
#include "../src/train/ring_allreduce.hpp"
#include "kaon/comm/communicator.hpp"
#include "kaon/core/runtime.hpp"
#include "kaon/data/in_memory_dataset.hpp"
#include "kaon/nn/layers/conv.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/pool.hpp"
#include "kaon/nn/layers/reshape.hpp"
#include "kaon/train/trainer.hpp"

namespace {

using namespace kaon;

// CPU seconds (user + system) of this process, all threads: shows what the communication
// costs the cores beside the wall time (a thread spinning in MPI competes with compute).
double processCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
  return s(u.ru_utime) + s(u.ru_stime);
}

// On-CPU seconds of this process's threads named `name` (/proc/self/task/*/schedstat, in ns):
// the communication thread's share of processCpuSeconds(). 0 where /proc is missing.
double threadCpuSeconds(const std::string& name) {
  double total = 0;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream comm(task.path() / "comm"), sched(task.path() / "schedstat");
    std::string n;
    double ns = 0;
    if (std::getline(comm, n) && n == name && (sched >> ns)) total += ns * 1e-9;
  }
  return total;
}

// Splits the wait after backward, step by step: until the slowest rank finished its backward
// the allreduce cannot complete (load imbalance); what remains is exposed communication.
// Backward-end times of all ranks are compared on the steady clock, which ranks of one host
// share (CLOCK_MONOTONIC); across nodes the split is only as good as the clocks agree.
struct WaitSplit {
  double imbalanceMs = 0, exposedMs = 0;  // per step, this rank
};

WaitSplit splitWaits(const std::vector<train::StepMark>& marks, std::size_t first, comm::Communicator& comm) {
  const std::size_t steps = marks.size() - first;
  auto seconds = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
  };
  Tensor mine = Tensor::empty(Shape{static_cast<std::int64_t>(steps)}, DType::Float64);
  for (std::size_t k = 0; k < steps; ++k) mine.data<double>()[k] = seconds(marks[first + k].backwardEnd);
  Tensor all = Tensor::empty(Shape{static_cast<std::int64_t>(steps) * comm.size()}, DType::Float64);
  comm.allgather(mine, all);
  WaitSplit w;
  for (std::size_t k = 0; k < steps; ++k) {
    double slowest = 0;
    for (int r = 0; r < comm.size(); ++r) slowest = std::max(slowest, all.data<double>()[r * steps + k]);
    const double end = seconds(marks[first + k].backwardEnd), ready = seconds(marks[first + k].gradientsReady);
    const double wait = ready - end, imbalance = std::clamp(slowest - end, 0.0, wait);
    w.imbalanceMs += 1e3 * imbalance;
    w.exposedMs += 1e3 * (wait - imbalance);
  }
  w.imbalanceMs /= static_cast<double>(steps);
  w.exposedMs /= static_cast<double>(steps);
  return w;
}

// HEP jet CNN: 3x[conv 3x3 128 same + ReLU + maxpool 2] -> dense 512 ReLU -> dense 2.
nn::Model jetCnn(int pixels, int filters) {
  nn::Model m;
  m.addInput("image", Shape{3, pixels, pixels});
  for (int i = 1; i <= 3; ++i) {
    m.add(std::make_unique<nn::Conv>("conv" + std::to_string(i),
                                     nn::ConvOptions{.filters = filters, .kernel = {3}, .samePadding = true,
                                                     .activation = ops::Activation::Relu}));
    m.add(std::make_unique<nn::Pool>("pool" + std::to_string(i), nn::PoolOptions{.window = {2}}));
  }
  m.add(std::make_unique<nn::Reshape>("flatten", std::vector<std::int64_t>{}));
  m.add(std::make_unique<nn::Dense>("fc1", nn::DenseOptions{.units = 512, .activation = ops::Activation::Relu}));
  m.add(std::make_unique<nn::Dense>("logits", nn::DenseOptions{.units = 2}));
  m.build(DType::Float32, 1);
  return m;
}

std::shared_ptr<data::Dataset> randomImages(std::int64_t n, int pixels) {
  Tensor x = Tensor::empty(Shape{n, 3, pixels, pixels}), y = Tensor::empty(Shape{n});
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> u(0, 1);
  for (float& v : x.span<float>()) v = u(rng);
  for (std::int64_t i = 0; i < n; ++i) y.span<float>()[i] = static_cast<float>(i % 2);
  return std::make_shared<data::InMemoryDataset>(std::vector<Tensor>{x}, std::vector<Tensor>{y});
}

int run(int argc, char** argv) {
  CLI::App app{"Data-parallel step-time benchmark of the jet CNN"};
  std::int64_t batch = 32, steps = 10, warmup = 2;
  int threads = 0, pixels = 64, filters = 128;
  double bucketMb = static_cast<double>(train::kDefaultHostBucketBytes) / (1 << 20);  // the CPU default
  std::string allreduce = "thread";
  bool noComm = false;
  std::string csv, timeline, label = "weak";
  app.add_option("--batch-per-rank", batch, "Samples per rank per step")->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "Measured steps")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "Unmeasured steps first")->check(CLI::NonNegativeNumber);
  app.add_option("--threads", threads, "CPU threads per rank (0: cores / ranks on the node)");
  app.add_option("--pixels", pixels, "Image size (64 for the jet CNN)")->check(CLI::Range(16, 512));
  app.add_option("--filters", filters, "Conv filters (128 for the jet CNN)")->check(CLI::PositiveNumber);
  app.add_option("--bucket-mb", bucketMb, "Gradient bucket size")->check(CLI::PositiveNumber);
  app.add_option("--allreduce", allreduce, "How buckets travel (trainer.allreduce)")
      ->check(CLI::IsMember({"thread", "nonblocking"}));
  app.add_flag("--no-comm", noComm, "Skip gradient communication (the communication-free baseline)");
  app.add_option("--label", label, "Free text put in the CSV row (e.g. strong or weak)");
  app.add_option("--csv", csv, "Append the result row to this CSV file (rank 0)");
  app.add_option("--timeline", timeline, "Write a per-rank Chrome/Perfetto trace");
  CLI11_PARSE(app, argc, argv);

  auto comm = comm::makeDefaultCommunicator();
  setNumThreads(threads > 0 ? threads : apps::defaultThreadsPerRank(*comm));
  nn::Model model = jetCnn(pixels, filters);
  const int ranks = comm->size();
  auto data = randomImages((warmup + steps) * batch * ranks, pixels);
  optim::Sgd sgd(optim::SgdOptions{.momentum = 0.9});
  sgd.attach(model.parameters(), model.gradients(), model.trainableRanges());
  train::TrainerOptions o;
  o.epochs = 1;
  o.batchSize = batch;
  o.progress = false;
  o.shuffle = false;
  o.configText = "kaon-bench-scaling";
  o.bucketBytes = static_cast<std::size_t>(bucketMb * (1 << 20));
  o.allreduce = train::allreduceModeFromName(allreduce);
  o.synchroniseGradients = !noComm;
  o.timelinePath = timeline;
  o.recordStepMarks = true;
  using Clock = std::chrono::steady_clock;
  Clock::time_point measuredStart;
  double cpuStart = 0, commCpuStart = 0;
  train::StepTimes atWarmupEnd;
  train::Trainer* self = nullptr;
  o.afterStep = [&](std::int64_t step) {
    if (step == warmup) {
      comm->barrier();
      measuredStart = Clock::now();
      cpuStart = processCpuSeconds();
      commCpuStart = threadCpuSeconds("kaon-comm");
      atWarmupEnd = self->stepTimes();
    }
  };
  train::Trainer trainer(model, sgd, [](std::int64_t) { return 0.01; }, *data, nullptr, o, comm.get());
  self = &trainer;
  if (warmup == 0) {
    measuredStart = Clock::now();
    cpuStart = processCpuSeconds();
  }
  trainer.fit();
  const double cpuMs = 1e3 * (processCpuSeconds() - cpuStart) / static_cast<double>(steps);
  const double commCpuMs = 1e3 * (threadCpuSeconds("kaon-comm") - commCpuStart) / static_cast<double>(steps);
  comm->barrier();
  double wall = std::chrono::duration<double>(Clock::now() - measuredStart).count();
  const train::StepTimes& t = trainer.stepTimes();
  auto perStep = [&](double total, double warm) { return 1e3 * (total - warm) / static_cast<double>(steps); };
  WaitSplit split = splitWaits(trainer.stepMarks(), static_cast<std::size_t>(warmup), *comm);
  // Slowest rank decides the step; report the max over ranks.
  std::vector<double> mine{perStep(t.compute, atWarmupEnd.compute), split.exposedMs,
                           perStep(t.data, atWarmupEnd.data), perStep(t.optimizer, atWarmupEnd.optimizer),
                           split.imbalanceMs, cpuMs, commCpuMs};
  std::vector<double> worst = comm->allreduce(mine, comm::ReduceOp::Max);

  // Plain allreduce of the gradient bytes (one buffer), for bus bandwidth.
  Tensor buffer = Tensor::zeros(Shape{model.parameterCount()});
  double plainMs = 0;
  if (ranks > 1) {
    comm->allreduce(buffer, comm::ReduceOp::Sum);
    comm->barrier();
    auto s = Clock::now();
    const int reps = 5;
    for (int i = 0; i < reps; ++i) comm->allreduce(buffer, comm::ReduceOp::Sum);
    plainMs = 1e3 * std::chrono::duration<double>(Clock::now() - s).count() / reps;
  }
  // The same through the communication thread's ring (train/ring_allreduce.hpp, with the
  // polling of the environment), here on the main thread with the compute threads idle: its
  // transfer time against the library's.
  double ringMs = 0;
  if (ranks > 1) {
    Tensor scratch;
    const train::RingPolling polling = train::ringPollingFromEnv();
    train::ringAllreduce(*comm, buffer, comm::ReduceOp::Sum, scratch, polling);
    comm->barrier();
    auto s = Clock::now();
    const int reps = 5;
    for (int i = 0; i < reps; ++i) train::ringAllreduce(*comm, buffer, comm::ReduceOp::Sum, scratch, polling);
    ringMs = 1e3 * std::chrono::duration<double>(Clock::now() - s).count() / reps;
  }
  double bytes = static_cast<double>(model.parameterCount()) * 4;
  double busGBps = plainMs > 0 ? 2.0 * (ranks - 1) / ranks * bytes / (plainMs * 1e-3) / 1e9 : 0;
  double stepMs = 1e3 * wall / static_cast<double>(steps);
  double samplesPerS = static_cast<double>(batch * ranks) / (stepMs * 1e-3);
  if (comm->rank() == 0) {
    // exposed_share: exposed communication per step over the time of a plain allreduce of the
    // gradient bytes (the communication there is to hide).
    std::string header = "label,ranks,batch_per_rank,threads,comm,step_ms,compute_ms,exposed_comm_ms,data_ms,"
                         "optimizer_ms,samples_per_s,grad_mb,plain_allreduce_ms,bus_gbps,imbalance_ms,exposed_share,"
                         "allreduce,bucket_mb,cpu_ms,comm_cpu_ms,plain_ring_ms,omp_wait";
    const double share = plainMs > 0 && !noComm ? worst[1] / plainMs : 0;
    std::string row = fmt::format("{},{},{},{},{},{:.2f},{:.2f},{:.2f},{:.2f},{:.2f},{:.1f},{:.2f},{:.2f},{:.3f},{:.2f},{:.3f},{},{:g},{:.1f},{:.1f},{:.2f},{}",
                                  label, ranks, batch, numThreads(), noComm ? "off" : "on", stepMs, worst[0], worst[1],
                                  worst[2], worst[3], samplesPerS, bytes / (1 << 20), plainMs, busGBps, worst[4],
                                  share, allreduce, bucketMb, worst[5], worst[6], ringMs,
                                  apps::ompWaitPolicyDescription());
    std::printf("%s\n%s\n", header.c_str(), row.c_str());
    if (!csv.empty()) {
      bool fresh = !std::filesystem::exists(csv) || std::filesystem::file_size(csv) == 0;
      std::ofstream out(csv, std::ios::app);
      if (fresh) out << header << "\n";
      out << row << "\n";
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return kaon::apps::guardedMain("kaon-bench-scaling", argc, argv, run); }
