#pragma once
// A ring allreduce (reduce-scatter, then allgather) over the communicator's point-to-point
// calls, for the gradient allreducer's communication thread: it waits for its neighbours
// *asleep* (test, then a short sleep with backoff), where Open MPI's blocking MPI_Allreduce
// spins in its progress loop on a core the compute threads need. On fully subscribed cores
// (every core runs a compute thread) that spinning is stolen compute time, and a rank whose
// ring neighbour lost its core spins the longest (docs/perf-notes.md §9, "where the CPU goes").
//
// The buffer is cut into size() chunks (the first numel % size one element longer; chunks are
// empty when numel < size). Chunk k is summed along the ring starting at rank k, so each
// element is added in one fixed order, on one rank, and copied to all others: every rank ends
// with bitwise the same values, run after run. Average scales the summed chunk on its owner
// (x * (1/size), as the MPI communicator's Average does) before it is passed around.
//
// Failures: an exception from the communicator propagates; requests still in flight are left
// behind (never waited for: the peer may be gone, and the caller's error handling ends the
// job), so a failing rank never hangs here.
#include <chrono>

#include "kaon/comm/communicator.hpp"

namespace kaon::train {

struct RingPolling {
  // Sleep between tests of the outstanding requests: starts at `first`, doubles up to `cap`.
  std::chrono::microseconds first{10}, cap{200};
};

// In-place Sum or Average of a dense CPU float32/float64 tensor over `comm`. `scratch` receives
// a neighbour's chunk; it is grown as needed and may be kept between calls. Every rank must
// call it with the same element count, op and dtype (as for any collective); `tag` must not be
// used by other point-to-point traffic on `comm` meanwhile.
void ringAllreduce(comm::Communicator& comm, const Tensor& buffer, comm::ReduceOp op, Tensor& scratch,
                   RingPolling polling = {}, int tag = 0x4b52);

}  // namespace kaon::train
