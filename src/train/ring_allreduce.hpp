#pragma once
// A ring allreduce (reduce-scatter, then allgather) over the communicator's point-to-point
// calls, for the gradient allreducer's communication thread: it waits for its neighbours
// mostly *asleep*, where Open MPI's blocking MPI_Allreduce spins in its progress loop on a core
// the compute threads need. On fully subscribed cores (every core runs a compute thread) that
// spinning is stolen compute time, and a rank whose ring neighbour lost its core spins the
// longest (docs/perf-notes.md §9, "where the CPU goes").
//
// The buffer is cut into size() chunks (the first numel % size one element longer; chunks are
// empty when numel < size), each chunk into up to `segments` segments. Segment j of every
// chunk travels its own ring (a lane, own tag), so the lanes pipeline: one lane's transfer
// overlaps another's add, and each lane's small messages complete often, which is what tells
// the waiting loop that data is flowing. Chunk k is summed along the ring starting at rank k,
// so each element is added in one fixed order (whatever the segmentation), on one rank, and
// copied to all others: every rank ends with bitwise the same values, run after run. Average
// scales the summed chunk on its owner (x * (1/size), as the MPI communicator's Average does)
// before it is passed around.
//
// Waiting: the requests are tested back to back for `spin` after every progress (a request
// done, an exchange posted), since while data flows Open MPI moves a large message only inside
// MPI calls (each rendezvous fragment of its shared-memory transport waits for the next test);
// once nothing progressed for `spin`, it sleeps between tests, `first` doubling to `cap`, and
// is back to `first` at the next progress. A neighbour still computing therefore costs one
// `spin` of CPU, not the whole wait.
//
// Failures: an exception from the communicator propagates; requests still in flight are left
// behind (never waited for: the peer may be gone, and the caller's error handling ends the
// job), so a failing rank never hangs here.
#include <chrono>

#include "kaon/comm/communicator.hpp"

namespace kaon::train {

inline constexpr int kMaxRingSegments = 64;

// Defaults measured in docs/perf-notes.md §9c.
struct RingPolling {
  // Sleep between tests once nothing progressed for `spin`: starts at `first`, doubles up to `cap`.
  std::chrono::microseconds first{10}, cap{200};
  std::chrono::microseconds spin{50};
  // std::this_thread::yield() between the tests while spinning: on a core shared with compute
  // threads they get it back at once; on an idle core the call returns at once.
  bool yield = true;
  int segments = 4;  // per chunk (1..kMaxRingSegments), fewer where they would be short:
  std::int64_t minSegmentBytes = std::int64_t{64} << 10;  // (below, a lane costs more than it overlaps)
};

// The defaults above, overridden by KAON_RING_SPIN_US (0..100000), KAON_RING_SEGMENTS (1..64)
// and KAON_RING_SPIN_YIELD (0 or 1); a value that is not an integer in range is an error
// naming the variable.
RingPolling ringPollingFromEnv();

// In-place Sum or Average of a dense CPU float32/float64 tensor over `comm`. `scratch` receives
// a neighbour's chunk; it is grown as needed and may be kept between calls. Every rank must
// call it with the same element count, op, dtype and segments (as for any collective); tags
// tag .. tag + segments - 1 must not be used by other point-to-point traffic on `comm`
// meanwhile. The calling thread's timer slack is set to 1 us for the call (short sleeps).
void ringAllreduce(comm::Communicator& comm, const Tensor& buffer, comm::ReduceOp op, Tensor& scratch,
                   RingPolling polling = {}, int tag = 0x4b52);

}  // namespace kaon::train
