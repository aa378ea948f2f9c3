#include "bucket_comm_thread.hpp"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "ring_allreduce.hpp"

namespace kaon::train {
namespace {

// Waits, asleep, until every rank has queued this bucket: a one-value non-blocking allreduce
// polled with backoff (capped at 200 us: the latency it may add once the last rank arrives). A blocking allreduce entered early would busy-poll (Open MPI spins in
// its progress loop) on a core the backward pass needs, for as long as the slowest rank is
// behind; entered after the arrival it spins only for the transfer itself.
void awaitArrival(comm::Communicator& comm, const Tensor& token) {
  auto request = comm.allreduceAsync(token, comm::ReduceOp::Max);
  auto pause = std::chrono::microseconds(20);
  while (!request->test()) {
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(200));
  }
}

// KAON_ALLREDUCE_RING: which buckets take the ring (ring_allreduce.hpp; its polling from
// KAON_RING_SPIN_US, KAON_RING_SEGMENTS, KAON_RING_SPIN_YIELD, read once here) instead of
// arrival wait + MPI_Allreduce. large: those of at least kRingMinBytes, where the transfer
// dominates and the ring's extra latency per step (a sleep period where a neighbour is late) is hidden behind
// backward; the small last bucket keeps the library's lower latency. auto (default): large
// when all ranks share one node (measured there, where the cores are what the spinning
// steals), else none: across nodes a flat ring of 2(p-1) steps has not been measured against
// the library's hierarchical algorithms. 0: none (the library only, the previous default);
// all: every bucket (tests).
constexpr std::size_t kRingMinBytes = std::size_t{256} << 10;

std::size_t ringMinBytesFromEnv(const comm::Communicator& comm) {
  const char* v = std::getenv("KAON_ALLREDUCE_RING");
  if (!v || !*v || std::strcmp(v, "auto") == 0) return comm.localSize() == comm.size() ? kRingMinBytes : SIZE_MAX;
  if (std::strcmp(v, "large") == 0) return kRingMinBytes;
  if (std::strcmp(v, "0") == 0) return SIZE_MAX;
  if (std::strcmp(v, "all") == 0) return 0;
  KAON_FAIL("KAON_ALLREDUCE_RING='{}': expected auto, large, 0 or all", v);
}

// KAON_COMM_THREAD_NICE: a nice value for the communication thread alone (Linux: per thread).
bool niceFromEnv(int& nice) {
  const char* v = std::getenv("KAON_COMM_THREAD_NICE");
  if (!v || !*v) return false;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  KAON_CHECK(*end == 0 && n >= -20 && n <= 19, "KAON_COMM_THREAD_NICE='{}': expected an integer in [-20, 19]", v);
  nice = static_cast<int>(n);
  return true;
}

}  // namespace

struct BucketCommThread::State {
  std::unique_ptr<comm::Communicator> comm;
  comm::ReduceOp op;
  std::mutex mutex;
  std::condition_variable work, done;  // work: queue or stop changed; done: completed changed
  std::deque<Tensor> queue;
  std::size_t queued = 0, completed = 0;
  bool stop = false, busy = false;
  std::exception_ptr error;
  std::vector<Timing> timings;
  bool arrival = true;  // sleep until all ranks queued the bucket, then the blocking allreduce
  Tensor token = Tensor::zeros(Shape{1});
  std::size_t ringMinBytes = kRingMinBytes;
  RingPolling ringPolling;
  Tensor ringScratch;
  bool setNice = false;
  int nice = 0;
};

BucketCommThread::BucketCommThread(std::unique_ptr<comm::Communicator> comm, comm::ReduceOp op)
    : state_(std::make_shared<State>()) {
  KAON_CHECK(comm, "bucket communication thread: no communicator");
  state_->comm = std::move(comm);
  state_->op = op;
  const char* arrival = std::getenv("KAON_ALLREDUCE_ARRIVAL");
  state_->arrival = !(arrival && std::strcmp(arrival, "0") == 0);
  state_->ringMinBytes = ringMinBytesFromEnv(*state_->comm);
  state_->ringPolling = ringPollingFromEnv();
  state_->setNice = niceFromEnv(state_->nice);
  thread_ = std::thread(run, state_);
}

BucketCommThread::~BucketCommThread() {
  bool busy = false;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->stop = true;
    // Buckets never started are dropped: the owner is going away mid-step (an error).
    state_->completed += state_->queue.size();
    state_->queue.clear();
    busy = state_->busy;
  }
  state_->work.notify_all();
  if (busy) thread_.detach();  // inside a collective that may never end; it owns what it uses
  else thread_.join();
}

void BucketCommThread::enqueue(Tensor buffer) {
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->queue.push_back(std::move(buffer));
    ++state_->queued;
  }
  state_->work.notify_one();
}

void BucketCommThread::waitAll() {
  std::unique_lock<std::mutex> lock(state_->mutex);
  state_->done.wait(lock, [&] { return state_->completed == state_->queued; });
  if (state_->error) std::rethrow_exception(state_->error);
}

std::vector<BucketCommThread::Timing> BucketCommThread::takeTimings() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  std::vector<Timing> out;
  out.swap(state_->timings);
  return out;
}

void BucketCommThread::run(std::shared_ptr<State> s) {
  // Named for top/perf and for the benchmarks' per-thread CPU time (kaon-bench-scaling).
  pthread_setname_np(pthread_self(), "kaon-comm");
  // Sleeps of a few microseconds must stay that short: the default timer slack (50 us) would
  // stretch every poll of the ring and the arrival wait.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
  if (s->setNice && setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), s->nice) != 0)
    spdlog::warn("KAON_COMM_THREAD_NICE={}: setpriority failed ({}); the communication thread keeps its priority",
                 s->nice, std::strerror(errno));
  std::unique_lock<std::mutex> lock(s->mutex);
  for (;;) {
    s->work.wait(lock, [&] { return s->stop || !s->queue.empty(); });
    if (s->queue.empty()) return;  // stopped
    Tensor buffer = std::move(s->queue.front());
    s->queue.pop_front();
    if (!s->error) {
      s->busy = true;
      lock.unlock();
      std::exception_ptr error;
      const Clock::time_point start = Clock::now();
      try {
        const std::size_t bytes = static_cast<std::size_t>(buffer.numel()) * dtypeSize(buffer.dtype());
        const bool ringable = buffer.device().isCpu() &&
                              (buffer.dtype() == DType::Float32 || buffer.dtype() == DType::Float64) &&
                              (s->op == comm::ReduceOp::Sum || s->op == comm::ReduceOp::Average);
        if (s->comm->size() > 1 && ringable && bytes >= s->ringMinBytes) {
          ringAllreduce(*s->comm, buffer, s->op, s->ringScratch, s->ringPolling);
        } else {
          if (s->arrival && s->comm->size() > 1) awaitArrival(*s->comm, s->token);
          s->comm->allreduce(buffer, s->op);
        }
      } catch (...) {
        error = std::current_exception();
      }
      const Clock::time_point end = Clock::now();
      lock.lock();
      s->busy = false;
      if (error) s->error = error;
      else s->timings.push_back({start, end});
    }
    ++s->completed;
    s->done.notify_all();
  }
}

}  // namespace kaon::train
