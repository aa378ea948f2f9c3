#include "ring_allreduce.hpp"

#include <algorithm>
#include <memory>
#include <thread>
#include <utility>

namespace kaon::train {
namespace {

struct Chunk {
  std::int64_t offset = 0, count = 0;
};

Chunk chunkOf(std::int64_t numel, int ranks, int k) {
  const std::int64_t base = numel / ranks, extra = numel % ranks;
  return {k * base + std::min<std::int64_t>(k, extra), base + (k < extra ? 1 : 0)};
}

// One ring step: send `out` to the right, receive `in` from the left (either may be empty),
// then wait for both, asleep between tests. On an exception the requests in flight are
// released unwaited (a destructor would wait, and the peer may never answer).
void exchange(comm::Communicator& comm, const Tensor& out, const Tensor& in, int right, int left, int tag,
              const RingPolling& polling) {
  std::unique_ptr<comm::Request> send, recv;
  try {
    // The send first: a rank that fails here has nothing in flight, and every rank posts the
    // same calls in the same order.
    if (out.numel() > 0) send = comm.sendAsync(out, right, tag);
    if (in.numel() > 0) recv = comm.recvAsync(in, left, tag);
    auto pause = polling.first;
    for (;;) {
      const bool sent = !send || send->test();
      const bool received = !recv || recv->test();
      if (sent && received) return;
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, polling.cap);
    }
  } catch (...) {
    (void)send.release();
    (void)recv.release();
    throw;
  }
}

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

}  // namespace

void ringAllreduce(comm::Communicator& comm, const Tensor& buffer, comm::ReduceOp op, Tensor& scratch,
                   RingPolling polling, int tag) {
  KAON_CHECK(buffer.defined() && buffer.device().isCpu(), "ring allreduce: needs a CPU tensor");
  KAON_CHECK(op == comm::ReduceOp::Sum || op == comm::ReduceOp::Average,
             "not implemented: ring allreduce with an op other than sum or average");
  const int p = comm.size(), r = comm.rank();
  const std::int64_t n = buffer.numel();
  if (p == 1 || n == 0) return;  // Average of one rank is the value itself
  const Tensor flat = buffer.reshape(Shape{n});
  const std::int64_t largest = chunkOf(n, p, 0).count;
  if (!scratch.defined() || scratch.dtype() != buffer.dtype() || scratch.numel() < largest)
    scratch = Tensor::empty(Shape{largest}, buffer.dtype());
  const int right = (r + 1) % p, left = (r + p - 1) % p;
  auto part = [&](int k) {
    const Chunk c = chunkOf(n, p, ((k % p) + p) % p);
    return flat.slice(c.offset, c.offset + c.count);
  };
  dispatchFloat(buffer.dtype(), [&](auto tag_) {
    using T = decltype(tag_);
    // Reduce-scatter: at step s, pass chunk r - s on and add the left's chunk r - s - 1 to
    // ours; after p - 1 steps this rank holds the whole sum of chunk r + 1.
    for (int s = 0; s < p - 1; ++s) {
      const Tensor mine = part(r - s - 1);
      const Tensor in = scratch.slice(0, mine.numel());
      exchange(comm, part(r - s), in, right, left, tag, polling);
      addInto<T>(mine, in);
    }
    if (op == comm::ReduceOp::Average) scale<T>(part(r + 1), p);
    // Allgather: pass the finished chunks around, received straight into place.
    for (int s = 0; s < p - 1; ++s) exchange(comm, part(r + 1 - s), part(r - s), right, left, tag, polling);
  });
}

}  // namespace kaon::train
