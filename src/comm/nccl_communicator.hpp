#pragma once
// NCCL communicator (built only when NCCL is found; see makeNcclCommunicator in
// kaon/comm/communicator.hpp for the contract).
//
// Streams and events. NCCL runs on the communicator's own stream (highest priority, so that
// gradient buckets are not starved by backward kernels). Each operation records an event on the
// compute stream (the point where the buffer's producers were queued: for a gradient bucket,
// "its gradients are ready"), makes the NCCL stream wait on it, enqueues the NCCL call and
// records a completion event on the NCCL stream. Request::test() queries that event;
// wait() polls it (with the asynchronous-error check and the timeout), and both make the
// compute stream wait on it, so the optimizer step queued afterwards reads the reduced values.
//
// Failure. The communicator is non-blocking (ncclConfig_t::blocking = 0): every NCCL call,
// start-up included, is settled by polling ncclCommGetAsyncError under the timeout. An
// asynchronous error or a timeout calls ncclCommAbort (on a helper thread, waited for at most
// a second: it cannot finish while queued work waits on a stuck compute stream) and raises
// kaon::Error naming the rank; afterwards every operation fails with that reason. A communicator destroyed during stack
// unwinding aborts instead of finalising, so a failing rank never waits for its peers.
#include <nccl.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../cuda/cuda_check.hpp"
#include "kaon/comm/communicator.hpp"

namespace kaon::comm {

class NcclCommunicator;

class NcclRequest final : public Request {
 public:
  NcclRequest(NcclCommunicator& comm, cudaEvent_t done, std::string what);
  ~NcclRequest() override;
  void wait() override;
  bool test() override;

 private:
  void finish();
  NcclCommunicator& comm_;
  cudaEvent_t done_;
  std::string what_;
  std::chrono::steady_clock::time_point started_;
  bool finished_ = false;
};

class NcclCommunicator final : public Communicator {
 public:
  // Collective over `host`: rank 0 creates the unique id, `host` broadcasts it.
  static std::unique_ptr<NcclCommunicator> create(Communicator& host, std::unique_ptr<Communicator> ownedHost,
                                                  Device device, NcclOptions options);
  ~NcclCommunicator() override;

  std::string name() const override { return "nccl"; }
  int rank() const override { return host_.rank(); }
  int size() const override { return host_.size(); }
  int localRank() const override { return host_.localRank(); }
  int localSize() const override { return host_.localSize(); }
  bool supportsDevice(Device d) const override { return d.isCpu() || d == device_; }

  void allreduce(const Tensor& buffer, ReduceOp op) override;
  std::unique_ptr<Request> allreduceAsync(const Tensor& buffer, ReduceOp op) override;
  void broadcast(const Tensor& buffer, int root) override;
  void allgather(const Tensor& send, const Tensor& recv) override;
  void send(const Tensor& buffer, int dest, int tag) override;
  void recv(const Tensor& buffer, int source, int tag) override;
  int recvAny(const Tensor& buffer, int tag) override;
  std::unique_ptr<Request> sendAsync(const Tensor& buffer, int dest, int tag) override;
  std::unique_ptr<Request> recvAsync(const Tensor& buffer, int source, int tag) override;
  void barrier() override;
  std::unique_ptr<Communicator> split(int color, int key) override;

 private:
  friend class NcclRequest;
  NcclCommunicator(Communicator& host, std::unique_ptr<Communicator> ownedHost, Device device, NcclOptions options);

  // Queues `enqueue` (one NCCL call on stream_) behind the compute stream's work so far.
  std::unique_ptr<NcclRequest> launch(std::string what, const std::function<ncclResult_t()>& enqueue);
  // Waits out ncclInProgress of `comm` (this one or one being created) under the timeout.
  void settle(ncclComm_t comm, ncclResult_t result, const std::string& what);
  void waitForEvent(cudaEvent_t event, std::chrono::steady_clock::time_point started, const std::string& what);
  bool eventDone(cudaEvent_t event) const;
  std::string asyncError(ncclComm_t comm) const;
  void abort(const std::string& reason) noexcept;
  void checkUsable() const;
  void checkBuffer(const Tensor& t, const char* op) const;
  void checkPeer(int r) const;
  std::string describe(const char* op, const Tensor& t) const;
  cudaEvent_t acquireEvent();
  void releaseEvent(cudaEvent_t e) { freeEvents_.push_back(e); }

  Communicator& host_;
  std::unique_ptr<Communicator> ownedHost_;  // set for communicators made by split()
  Device device_;
  NcclOptions options_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  std::vector<cudaEvent_t> freeEvents_;
  bool aborted_ = false;
  std::string abortReason_;
  std::thread abortThread_;  // runs ncclCommAbort (see abort())
  std::shared_ptr<std::atomic<bool>> abortDone_ = std::make_shared<std::atomic<bool>>(false);
  static constexpr double kAbortWaitSeconds = 1.0;
  Tensor barrierScratch_;  // [1] float32 on device_
};

}  // namespace kaon::comm
