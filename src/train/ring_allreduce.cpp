#include "ring_allreduce.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include <sys/prctl.h>

namespace kaon::train {
namespace {

struct Range {
  std::int64_t offset = 0, count = 0;
};

// Part k of `parts` of n elements: the first n % parts one element longer (empty when n < parts).
Range partOf(std::int64_t n, int parts, int k) {
  const std::int64_t base = n / parts, extra = n % parts;
  return {k * base + std::min<std::int64_t>(k, extra), base + (k < extra ? 1 : 0)};
}

// Sleeps of a few microseconds must stay that short: the default timer slack (50 us) stretches
// every one of them. Set for the call, then restored (the caller's thread may be any thread).
class ShortTimerSlack {
 public:
  ShortTimerSlack() : previous_(prctl(PR_GET_TIMERSLACK, 0UL, 0UL, 0UL, 0UL)) {
    if (previous_ > 1000) prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
  }
  ~ShortTimerSlack() {
    if (previous_ > 1000) prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(previous_), 0UL, 0UL, 0UL);
  }
  ShortTimerSlack(const ShortTimerSlack&) = delete;
  ShortTimerSlack& operator=(const ShortTimerSlack&) = delete;

 private:
  long previous_;
};

template <class T>
void addInto(const Tensor& into, const Tensor& from) {
  T* a = into.data<T>();
  const T* b = from.data<T>();
  const std::int64_t n = into.numel();
  for (std::int64_t i = 0; i < n; ++i) a[i] += b[i];
}

template <class T>
void scale(const Tensor& t, int ranks) {
  T* p = t.data<T>();
  const T s = T(1) / static_cast<T>(ranks);
  const std::int64_t n = t.numel();  // hoisted: a call per element would keep the loop scalar
  for (std::int64_t i = 0; i < n; ++i) p[i] *= s;
}

// One lane: segment j of every chunk, reduced by its own ring of 2(p-1) steps, one exchange
// (send right, receive left) at a time. Lanes are independent (own tag, own scratch), so one
// lane's transfer overlaps another's add.
struct Lane {
  int step = 0;
  std::unique_ptr<comm::Request> send, recv;
};

template <class T>
class SegmentedRing {
 public:
  SegmentedRing(comm::Communicator& comm, const Tensor& flat, comm::ReduceOp op, const Tensor& scratch, int lanes,
                std::int64_t laneScratch, int tag)
      : comm_(comm), flat_(flat), op_(op), scratch_(scratch), p_(comm.size()), r_(comm.rank()),
        right_((r_ + 1) % p_), left_((r_ + p_ - 1) % p_), laneScratch_(laneScratch), tag_(tag),
        lanes_(static_cast<std::size_t>(lanes)) {}

  // Ring polling: every lane is tested in turn; after any progress (a request done, an
  // exchange posted) the tests go on back to back for `spin`, then sleep first..cap doubling,
  // back to `first` at the next progress.
  void run(const RingPolling& polling) {
    try {
      for (int j = 0; j < lanes(); ++j) post(j);
      const auto kSteps = 2 * (p_ - 1);
      auto lastProgress = std::chrono::steady_clock::now();
      auto pause = polling.first;
      for (;;) {
        bool progressed = false, finished = true;
        for (int j = 0; j < lanes(); ++j) {
          Lane& lane = lanes_[static_cast<std::size_t>(j)];
          if (lane.step == kSteps) continue;
          finished = false;
          if (lane.send && lane.send->test()) lane.send.reset(), progressed = true;
          if (lane.recv && lane.recv->test()) lane.recv.reset(), progressed = true;
          if (!lane.send && !lane.recv) {
            progressed = true;
            complete(j);
            if (++lane.step < kSteps) post(j);
          }
        }
        if (finished) return;
        const auto now = std::chrono::steady_clock::now();
        if (progressed) {
          lastProgress = now;
          pause = polling.first;
        } else if (now - lastProgress >= polling.spin) {
          std::this_thread::sleep_for(pause);
          pause = std::min(pause * 2, polling.cap);
        } else if (polling.yield) {
          std::this_thread::yield();
        }
      }
    } catch (...) {
      // In-flight requests are released unwaited (a destructor would wait, and the peer may
      // never answer).
      for (Lane& lane : lanes_) {
        (void)lane.send.release();
        (void)lane.recv.release();
      }
      throw;
    }
  }

 private:
  int lanes() const { return static_cast<int>(lanes_.size()); }
  // Segment j of chunk k (taken modulo p).
  Tensor segment(int k, int j) const {
    const Range c = partOf(flat_.numel(), p_, ((k % p_) + p_) % p_), s = partOf(c.count, lanes(), j);
    return flat_.slice(c.offset + s.offset, c.offset + s.offset + s.count);
  }
  // Reduce-scatter, steps s < p-1: pass chunk r - s on, add the left's chunk r - s - 1 into
  // ours; after p - 1 steps this rank holds the whole sum of chunk r + 1. Allgather, steps
  // p-1+g: pass the finished chunk r + 1 - g on, receive chunk r - g straight into place.
  void post(int j) {
    Lane& lane = lanes_[static_cast<std::size_t>(j)];
    const int s = lane.step;
    Tensor out, in;
    if (s < p_ - 1) {
      out = segment(r_ - s, j);
      in = scratch_.slice(j * laneScratch_, j * laneScratch_ + segment(r_ - s - 1, j).numel());
    } else {
      const int g = s - (p_ - 1);
      out = segment(r_ + 1 - g, j);
      in = segment(r_ - g, j);
    }
    // The send first: a rank that fails here has nothing in flight, and every rank posts the
    // same calls in the same order. Empty segments (tiny buffers) are skipped on both sides.
    if (out.numel() > 0) lane.send = comm_.sendAsync(out, right_, tag_ + j);
    if (in.numel() > 0) lane.recv = comm_.recvAsync(in, left_, tag_ + j);
  }
  // Both requests of lane j's current step are done.
  void complete(int j) {
    const int s = lanes_[static_cast<std::size_t>(j)].step;
    if (s >= p_ - 1) return;
    const Tensor mine = segment(r_ - s - 1, j);
    addInto<T>(mine, scratch_.slice(j * laneScratch_, j * laneScratch_ + mine.numel()));
    // Average: the owner scales its summed chunk before the allgather passes it around.
    if (s == p_ - 2 && op_ == comm::ReduceOp::Average) scale<T>(mine, p_);
  }

  comm::Communicator& comm_;
  Tensor flat_;
  comm::ReduceOp op_;
  Tensor scratch_;
  int p_, r_, right_, left_;
  std::int64_t laneScratch_;
  int tag_;
  std::vector<Lane> lanes_;
};

// An integer environment variable in [lo, hi]; `fallback` when unset or empty.
long integerFromEnv(const char* name, long lo, long hi, long fallback, const char* meaning) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(v, &end, 10);
  KAON_CHECK(errno == 0 && *end == 0 && n >= lo && n <= hi, "{}='{}': expected an integer in [{}, {}] ({})", name,
             v, lo, hi, meaning);
  return n;
}

}  // namespace

RingPolling ringPollingFromEnv() {
  RingPolling p;
  p.spin = std::chrono::microseconds(
      integerFromEnv("KAON_RING_SPIN_US", 0, 100000, p.spin.count(), "microseconds the ring keeps testing after progress"));
  p.segments = static_cast<int>(
      integerFromEnv("KAON_RING_SEGMENTS", 1, kMaxRingSegments, p.segments, "segments per chunk, each its own ring"));
  p.yield = integerFromEnv("KAON_RING_SPIN_YIELD", 0, 1, p.yield ? 1 : 0, "1: yield the core between tests") != 0;
  return p;
}

void ringAllreduce(comm::Communicator& comm, const Tensor& buffer, comm::ReduceOp op, Tensor& scratch,
                   RingPolling polling, int tag) {
  KAON_CHECK(buffer.defined() && buffer.device().isCpu(), "ring allreduce: needs a CPU tensor");
  KAON_CHECK(op == comm::ReduceOp::Sum || op == comm::ReduceOp::Average,
             "not implemented: ring allreduce with an op other than sum or average");
  KAON_CHECK(polling.segments >= 1 && polling.segments <= kMaxRingSegments,
             "ring allreduce: {} segments per chunk, expected 1 to {}", polling.segments, kMaxRingSegments);
  KAON_CHECK(polling.minSegmentBytes >= 1, "ring allreduce: minimum segment size {} bytes", polling.minSegmentBytes);
  const int p = comm.size();
  const std::int64_t n = buffer.numel();
  if (p == 1 || n == 0) return;  // Average of one rank is the value itself
  const Tensor flat = buffer.reshape(Shape{n});
  // Lanes from the element count alone, so every rank cuts the same segments; none shorter
  // than minSegmentBytes.
  const std::int64_t largest = partOf(n, p, 0).count;
  const std::int64_t minElements =
      std::max<std::int64_t>(1, polling.minSegmentBytes / static_cast<std::int64_t>(dtypeSize(buffer.dtype())));
  const int lanes = static_cast<int>(std::clamp<std::int64_t>(largest / minElements, 1, polling.segments));
  const std::int64_t laneScratch = partOf(largest, lanes, 0).count;
  if (!scratch.defined() || scratch.dtype() != buffer.dtype() || scratch.numel() < lanes * laneScratch)
    scratch = Tensor::empty(Shape{lanes * laneScratch}, buffer.dtype());
  ShortTimerSlack slack;
  dispatchFloat(buffer.dtype(), [&](auto tag_) {
    SegmentedRing<decltype(tag_)>(comm, flat, op, scratch, lanes, laneScratch, tag).run(polling);
  });
}

}  // namespace kaon::train
