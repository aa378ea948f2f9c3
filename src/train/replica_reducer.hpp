#pragma once
// The trainer's side of synchronised batch norm: batch-norm layers hand their per-channel sums
// to a ReplicaReducer, which sums them over the ranks with a blocking allreduce on the trainer's
// communicator (NCCL or staging for a GPU model). The calls come in layer order, the same on
// every rank, so they interleave with the gradient buckets' non-blocking allreduces in the same
// order everywhere.
#include <memory>

#include "kaon/comm/communicator.hpp"
#include "kaon/nn/layer.hpp"

namespace kaon::train {

inline std::unique_ptr<nn::ReplicaReducer> makeReplicaReducer(comm::Communicator& comm) {
  class CommReducer final : public nn::ReplicaReducer {
   public:
    explicit CommReducer(comm::Communicator& c) : comm_(c) {}
    void sum(const Tensor& t) override { comm_.allreduce(t, comm::ReduceOp::Sum); }

   private:
    comm::Communicator& comm_;
  };
  return std::make_unique<CommReducer>(comm);
}

}  // namespace kaon::train
