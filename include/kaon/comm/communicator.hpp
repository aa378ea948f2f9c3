#pragma once
// Communicator: the only place Kaon code talks to other ranks. Implementations: MPI (CPU
// buffers, any MPI), Local (a world of one, no MPI needed); NCCL plugs in for GPU buffers.
// A communicator is always passed in, never global.
//
// Collectives operate in place on dense tensors of one dtype. Non-blocking variants return a
// Request; the tensor must stay alive and untouched until the request completes.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kaon/core/tensor.hpp"

namespace kaon::comm {

enum class ReduceOp { Sum, Average, Max, Min };

class Request {
 public:
  virtual ~Request() = default;
  virtual void wait() = 0;
  virtual bool test() = 0;  // true when complete; also drives progress
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string name() const = 0;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Ranks on this node and this rank's index among them (MPI_Comm_split_type).
  virtual int localRank() const = 0;
  virtual int localSize() const = 0;

  virtual void allreduce(const Tensor& buffer, ReduceOp op) = 0;
  virtual std::unique_ptr<Request> allreduceAsync(const Tensor& buffer, ReduceOp op) = 0;
  virtual void broadcast(const Tensor& buffer, int root) = 0;
  // recv holds size() blocks of send.numel() elements, in rank order.
  virtual void allgather(const Tensor& send, const Tensor& recv) = 0;
  virtual void send(const Tensor& buffer, int dest, int tag) = 0;
  virtual void recv(const Tensor& buffer, int source, int tag) = 0;
  // Receives the next message with `tag` from whichever rank sends first; returns its rank.
  virtual int recvAny(const Tensor& buffer, int tag) = 0;
  virtual std::unique_ptr<Request> sendAsync(const Tensor& buffer, int dest, int tag) = 0;
  virtual std::unique_ptr<Request> recvAsync(const Tensor& buffer, int source, int tag) = 0;
  virtual void barrier() = 0;
  // Ranks with the same color form a new communicator, ordered by key.
  virtual std::unique_ptr<Communicator> split(int color, int key) = 0;

  // Convenience: reduce a few doubles (metric sums, counts) across ranks.
  std::vector<double> allreduce(std::vector<double> values, ReduceOp op);
  // Every rank's value of x, in rank order.
  std::vector<double> allgather(double x);
};

// A world of one rank: collectives are identities (Average of one value is the value).
std::unique_ptr<Communicator> makeLocalCommunicator();
// MPI_COMM_WORLD (duplicated, so Kaon's traffic never mixes with the application's).
// MPI must be initialised by the caller.
std::unique_ptr<Communicator> makeWorldCommunicator();
// MPI_COMM_WORLD when MPI is initialised and has more than one rank, else Local.
std::unique_ptr<Communicator> makeDefaultCommunicator();

}  // namespace kaon::comm
