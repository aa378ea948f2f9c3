#pragma once
// The gradient allreducer's communication thread (as Horovod's background thread): buckets
// queued by the training thread during backward are reduced one after the other, in queue
// order: large ones (KAON_ALLREDUCE_RING; by default >= 256 KB, ranks on one node) through the ring of
// ring_allreduce.hpp, which spins only while data flows and sleeps while it waits for its
// neighbours, small ones with the
// communicator's *blocking* allreduce after the arrival wait. Why a thread and not MPI_Iallreduce:
// Open MPI 4.1's non-blocking collectives (libnbc) progress only inside MPI calls made by the
// owner and use slower algorithms than the tuned blocking ones (5x on shared memory), so a
// bucket started early made no progress while backward computed (docs/perf-notes.md).
//
// The thread owns its communicator (split from the trainer's), so its collectives never mix
// with those the training thread issues meanwhile (sync batch norm); both threads call MPI at
// the same time, which needs MPI_THREAD_MULTIPLE (Communicator::threadSafe()).
//
// Failures: an exception from the communicator is kept and rethrown by waitAll() on the
// training thread; buckets queued after it are skipped (the communicator is unusable then) and
// every later waitAll() throws again. A thread still inside a collective when its owner is
// destroyed (the owner is unwinding from another error) is left behind with the state it
// shares, so the destructor cannot hang the job: the caller's error handling (MPI_Abort)
// ends it.
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "kaon/comm/communicator.hpp"

namespace kaon::train {

class BucketCommThread {
 public:
  using Clock = std::chrono::steady_clock;
  struct Timing {
    Clock::time_point start, end;  // of the blocking allreduce on the thread
  };

  BucketCommThread(std::unique_ptr<comm::Communicator> comm, comm::ReduceOp op);
  ~BucketCommThread();
  BucketCommThread(const BucketCommThread&) = delete;
  BucketCommThread& operator=(const BucketCommThread&) = delete;

  // Queues an in-place allreduce of `buffer` (which must stay untouched until waitAll returns)
  // and returns at once.
  void enqueue(Tensor buffer);
  // Blocks until every queued buffer is reduced; rethrows the first failure.
  void waitAll();
  // Timings of the allreduces completed since the last call, in queue order.
  std::vector<Timing> takeTimings();

 private:
  struct State;
  static void run(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace kaon::train
