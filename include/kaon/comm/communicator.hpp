#pragma once
// Communicator: the only place Kaon code talks to other ranks. Implementations, all in every
// build and chosen at run time:
//   MPI     host buffers (GPU buffers too when the MPI library is CUDA-aware);
//   NCCL    GPU buffers of one GPU per rank, on its own stream, bootstrapped over MPI; host
//           buffers are forwarded to that MPI communicator (so metrics stay on MPI);
//   staged  GPU buffers through pinned host buffers over MPI (async modes, shared GPUs);
//   Local   a world of one, no MPI needed.
// A communicator is always passed in, never global.
//
// Collectives operate in place on dense tensors of one dtype. Non-blocking variants return a
// Request; the tensor must stay alive and untouched until the request completes, and a
// request must not outlive its communicator.
//
// GPU tensors follow the compute-stream contract of docs/cuda.md: an operation reads a GPU
// buffer as written by the work queued on the compute stream before the call, and work queued
// on the compute stream after wait()/a successful test() (or after a blocking call returns)
// sees the result.
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
  // Whether tensors on `device` may be passed (default: host memory only).
  virtual bool supportsDevice(Device device) const { return device.isCpu(); }
  // Whether two threads may call this communicator, and communicators split from it, at the
  // same time (MPI: initialised with MPI_THREAD_MULTIPLE). The gradient allreducer's
  // communication thread needs it: the training thread keeps calling (sync batch norm,
  // metrics) while the thread reduces buckets on a communicator split from this one.
  virtual bool threadSafe() const { return false; }

  virtual void allreduce(const Tensor& buffer, ReduceOp op) = 0;
  virtual std::unique_ptr<Request> allreduceAsync(const Tensor& buffer, ReduceOp op) = 0;
  virtual void broadcast(const Tensor& buffer, int root) = 0;
  // recv holds size() blocks of send.numel() elements, in rank order.
  virtual void allgather(const Tensor& send, const Tensor& recv) = 0;
  // Tags are matched by MPI; NCCL ignores them (messages between two ranks arrive in the order
  // they were sent).
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

// Whether the MPI library accepts GPU pointers: Open MPI's MPIX_Query_cuda_support() at run
// time (false where the extension is missing). KAON_MPI_CUDA_AWARE=0 or 1 overrides it.
bool mpiCudaAware();

// Whether this build has NCCL (found beside the CUDA toolkit at configure time).
bool ncclBuilt();

struct NcclOptions {
  // An operation (or the communicator's start-up) that has not completed after this long, or
  // any asynchronous NCCL error, aborts the communicator (ncclCommAbort) and raises an error
  // naming the rank. 0: wait forever (not recommended).
  double timeoutSeconds = 600;
};

// NCCL over one GPU per rank: ncclGetUniqueId on rank 0 of `bootstrap`, broadcast through it,
// ncclCommInitRank on `device` (this rank's GPU; ranks must use distinct GPUs). Collective over
// `bootstrap`, which must outlive the result: host tensors are forwarded to it. Throws
// NotImplemented when the build has no NCCL. Operations NCCL cannot do (recvAny) throw
// NotImplemented naming them.
std::unique_ptr<Communicator> makeNcclCommunicator(Communicator& bootstrap, Device device, NcclOptions options = {});

// GPU tensors through page-locked host buffers over `host` (passed straight through where
// host.supportsDevice() says it can take them, e.g. a CUDA-aware MPI). `host` must outlive it.
std::unique_ptr<Communicator> makeStagedCommunicator(Communicator& host);

// How GPU buffers of a data-parallel run travel: Auto = NCCL when built, else staged MPI.
enum class DeviceTransport { Auto, Nccl, Mpi };
// A communicator for buffers on `device` layered over `host` (NCCL or staged, per transport).
std::unique_ptr<Communicator> makeDeviceCommunicator(Communicator& host, Device device, DeviceTransport transport,
                                                     double timeoutSeconds);

}  // namespace kaon::comm
