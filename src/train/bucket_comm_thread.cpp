#include "bucket_comm_thread.hpp"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>

#include <algorithm>
#include <cstdlib>
#include <cstring>

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
};

BucketCommThread::BucketCommThread(std::unique_ptr<comm::Communicator> comm, comm::ReduceOp op)
    : state_(std::make_shared<State>()) {
  KAON_CHECK(comm, "bucket communication thread: no communicator");
  state_->comm = std::move(comm);
  state_->op = op;
  const char* arrival = std::getenv("KAON_ALLREDUCE_ARRIVAL");
  state_->arrival = !(arrival && std::strcmp(arrival, "0") == 0);
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
        if (s->arrival && s->comm->size() > 1) awaitArrival(*s->comm, s->token);
        s->comm->allreduce(buffer, s->op);
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
