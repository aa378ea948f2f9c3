#pragma once
// Loader: yields the batches of one pass over a rank's index order, reading ahead in a
// background thread into a ring of reusable batch buffers so the model never waits on I/O.
//
//   Loader loader(dataset, sampler.indices(epoch), {.batchSize = 32, .prefetch = 2});
//   while (const Batch* b = loader.next()) train(*b);
//
// Contract:
// - Batches come in order: batch k holds order[k*B .. k*B+B) (the last one may be shorter
//   unless dropLast), exactly what synchronous Dataset::read calls would give.
// - A batch returned by next() stays valid and unchanged until `hold` further calls to next()
//   (1 by default: until the next call) or the loader's destruction; then its buffer is
//   reused. next() is for one consumer thread. hold = 2 lets a GPU trainer copy batch k+1 to
//   the device while it still reads batch k's targets on the host.
// - pinned: batch buffers are page-locked host memory, so copies to a GPU run asynchronously
//   (plain memory where that is unavailable).
// - An exception in the worker is re-thrown by next() (for the batch it happened in) as
//   kaon::Error naming the batch, its sample range and the dataset, after the batches read
//   before it were delivered.
// - Destruction stops the worker and joins it; it waits at most for the read in flight.
// - prefetch = 0 reads synchronously in next() (no thread), with the same results.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "kaon/data/dataset.hpp"

namespace kaon::data {

struct LoaderOptions {
  std::int64_t batchSize = 32;
  bool dropLast = false;
  int prefetch = 2;             // batches read ahead; 0: synchronous
  std::int64_t firstBatch = 0;  // start here (resuming mid-epoch)
  int hold = 1;                 // batches the consumer may hold at once (>= 1)
  bool pinned = false;          // page-locked batch buffers (for asynchronous GPU copies)
};

class Loader {
 public:
  // `dataset` must outlive the loader.
  Loader(const Dataset& dataset, std::vector<std::int64_t> order, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  std::int64_t batches() const { return batches_; }  // in the whole pass, including skipped ones
  const Batch* next();                                // nullptr after the last batch

 private:
  struct Slot {
    Batch full;  // batchSize samples
    Batch view;  // the first `count` samples of full (what next() hands out)
  };
  std::int64_t countOf(std::int64_t batch) const;
  void readInto(std::int64_t batch, Slot& slot) const;
  void work();

  const Dataset& dataset_;
  std::vector<std::int64_t> order_;
  LoaderOptions options_;
  std::int64_t batches_ = 0, nextBatch_ = 0;
  std::vector<Slot> slots_;
  std::deque<int> held_;  // slots held by the consumer, oldest first

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<int> free_;                               // slots the worker may fill
  std::deque<std::pair<std::int64_t, int>> ready_;     // (batch, slot) in order
  std::exception_ptr error_;
  std::int64_t errorBatch_ = -1;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace kaon::data
