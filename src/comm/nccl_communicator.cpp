#include "nccl_communicator.hpp"

#include <atomic>
#include <cstring>
#include <exception>
#include <thread>

#include "../cuda/cuda_context.hpp"
#include "completion_wait.hpp"
#include "kaon/comm/device_selection.hpp"
#include "nccl_check.hpp"

namespace kaon::comm {
namespace {

ncclDataType_t ncclType(DType t) {
  switch (t) {
    case DType::Float32: return ncclFloat32;
    case DType::Float64: return ncclFloat64;
    case DType::BFloat16: return ncclBfloat16;
    case DType::Float16: return ncclFloat16;
    case DType::Int32: return ncclInt32;
    case DType::Int64: return ncclInt64;
    case DType::UInt8: return ncclUint8;
  }
  throw NotImplemented(fmt::format("NCCL communication of {}", dtypeName(t)));
}

ncclRedOp_t ncclOp(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return ncclSum;
    case ReduceOp::Average: return ncclAvg;
    case ReduceOp::Max: return ncclMax;
    case ReduceOp::Min: return ncclMin;
  }
  return ncclSum;
}

ncclConfig_t nonBlockingConfig() {
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;  // calls return at once; settle() waits under the timeout
  return config;
}

}  // namespace

// ---- requests ---------------------------------------------------------------------------------

NcclRequest::NcclRequest(NcclCommunicator& comm, cudaEvent_t done, std::string what)
    : comm_(comm), done_(done), what_(std::move(what)), started_(std::chrono::steady_clock::now()) {}

NcclRequest::~NcclRequest() {
  if (finished_) return;
  // Dropped in flight (an exception unwinds the step): the buffer must not be released while
  // NCCL may still write it, so wait, bounded by the timeout (which aborts).
  if (!comm_.aborted_) {
    try {
      comm_.waitForEvent(done_, started_, what_);
    } catch (...) {
    }
  }
  comm_.releaseEvent(done_);
}

void NcclRequest::finish() {
  // The compute stream's later work (the optimizer step) is ordered after the operation.
  KAON_CUDA_CHECK(cudaStreamWaitEvent(cuda::computeStream(comm_.device_.index), done_, 0));
  comm_.releaseEvent(done_);
  finished_ = true;
}

void NcclRequest::wait() {
  if (finished_) return;
  comm_.waitForEvent(done_, started_, what_);
  finish();
}

bool NcclRequest::test() {
  if (finished_) return true;
  comm_.checkUsable();
  if (!comm_.eventDone(done_)) {
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    const std::string err = comm_.asyncError(comm_.comm_);
    // An error or an expired timeout is raised here as in wait() (which aborts first).
    if (!err.empty() || (comm_.options_.timeoutSeconds > 0 && waited > comm_.options_.timeoutSeconds))
      comm_.waitForEvent(done_, started_, what_);
    else
      return false;
  }
  finish();
  return true;
}

// ---- communicator -----------------------------------------------------------------------------

NcclCommunicator::NcclCommunicator(Communicator& host, std::unique_ptr<Communicator> ownedHost, Device device,
                                   NcclOptions options)
    : host_(host), ownedHost_(std::move(ownedHost)), device_(device), options_(options) {
  cuda::context(device_.index);  // the device is current from here on
  int least = 0, greatest = 0;
  KAON_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  KAON_CUDA_CHECK(cudaStreamCreateWithPriority(&stream_, cudaStreamNonBlocking, greatest));
  barrierScratch_ = Tensor::zeros(Shape{1}, DType::Float32, device_);
}

std::unique_ptr<NcclCommunicator> NcclCommunicator::create(Communicator& host, std::unique_ptr<Communicator> ownedHost,
                                                           Device device, NcclOptions options) {
  KAON_CHECK(device.isCuda(), "NCCL communicator: needs a GPU device, got {}", device.str());
  requireDistinctGpus(host, device);  // NCCL refuses two ranks on one GPU; say so clearly first
  std::unique_ptr<NcclCommunicator> c(new NcclCommunicator(host, std::move(ownedHost), device, options));
  ncclUniqueId id{};
  if (host.rank() == 0) KAON_NCCL_CHECK(ncclGetUniqueId(&id));
  Tensor idBytes = Tensor::empty(Shape{static_cast<std::int64_t>(sizeof(id))}, DType::UInt8);
  std::memcpy(idBytes.raw(), &id, sizeof(id));
  host.broadcast(idBytes, 0);
  std::memcpy(&id, idBytes.raw(), sizeof(id));
  ncclConfig_t config = nonBlockingConfig();
  ncclComm_t comm = nullptr;
  ncclResult_t r = ncclCommInitRankConfig(&comm, host.size(), id, host.rank(), &config);
  c->comm_ = comm;
  c->settle(comm, r, fmt::format("NCCL start-up (ncclCommInitRankConfig, {} ranks) on {}", host.size(), device.str()));
  return c;
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_ && !aborted_) {
    if (std::uncaught_exceptions() > 0) {
      abort("destroyed while an error unwinds the stack");  // never wait for the peers
    } else {
      try {
        cudaEvent_t drained = acquireEvent();
        KAON_CUDA_CHECK(cudaEventRecord(drained, stream_));
        waitForEvent(drained, std::chrono::steady_clock::now(), "NCCL shutdown (draining the stream)");
        releaseEvent(drained);
        settle(comm_, ncclCommFinalize(comm_), "NCCL shutdown (ncclCommFinalize)");
        ncclCommDestroy(comm_);
      } catch (...) {
        abort("shutdown failed");
      }
    }
  }
  if (abortThread_.joinable()) {
    if (!abortDone_->load()) {
      // Still held up by a stuck stream: let it finish on its own (the process is most likely on
      // its way out) and leave the stream and events to it rather than block here.
      abortThread_.detach();
      return;
    }
    abortThread_.join();
  }
  cuda::context(device_.index);
  for (cudaEvent_t e : freeEvents_) cudaEventDestroy(e);
  if (stream_) cudaStreamDestroy(stream_);
}

cudaEvent_t NcclCommunicator::acquireEvent() {
  if (!freeEvents_.empty()) {
    cudaEvent_t e = freeEvents_.back();
    freeEvents_.pop_back();
    return e;
  }
  cudaEvent_t e = nullptr;
  KAON_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return e;
}

bool NcclCommunicator::eventDone(cudaEvent_t event) const {
  cudaError_t st = cudaEventQuery(event);
  if (st == cudaErrorNotReady) return false;
  KAON_CUDA_CHECK(st);
  return true;
}

std::string NcclCommunicator::asyncError(ncclComm_t comm) const {
  if (!comm) return {};
  ncclResult_t state = ncclSuccess;
  ncclResult_t r = ncclCommGetAsyncError(comm, &state);
  if (r != ncclSuccess) return fmt::format("ncclCommGetAsyncError failed: {}", ncclGetErrorString(r));
  if (state == ncclSuccess || state == ncclInProgress) return {};
  const char* last = ncclGetLastError(comm);
  return fmt::format("NCCL error {}{}{}", ncclGetErrorString(state), last && *last ? ": " : "", last ? last : "");
}

void NcclCommunicator::abort(const std::string& reason) noexcept {
  if (aborted_) return;
  aborted_ = true;
  abortReason_ = reason;
  if (!comm_) return;
  // ncclCommAbort returns once the communicator's queued work is gone; work still waiting on a
  // stuck compute stream holds it up (seen on an H200 with NCCL 2.28). So it runs on its own
  // thread and the error is raised after at most kAbortWaitSeconds either way; the destructor
  // joins the thread.
  try {
    auto done = abortDone_;
    abortThread_ = std::thread([comm = comm_, done, device = device_.index] {
      cudaSetDevice(device);  // a new thread starts on device 0
      ncclCommAbort(comm);
      done->store(true);
    });
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(kAbortWaitSeconds);
    while (!done->load() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  } catch (...) {
    ncclCommAbort(comm_);  // no thread to be had: abort here
  }
}

void NcclCommunicator::checkUsable() const {
  if (aborted_) throw Error(fmt::format("rank {}: the NCCL communicator was aborted after an earlier failure ({})",
                                        rank(), abortReason_));
}

void NcclCommunicator::waitForEvent(cudaEvent_t event, std::chrono::steady_clock::time_point started,
                                    const std::string& what) {
  checkUsable();
  detail::CompletionProbes probes{[&] { return eventDone(event); }, [&] { return asyncError(comm_); },
                                  [&] { abort(what); }};
  try {
    detail::waitForCompletion(probes, options_.timeoutSeconds, started, rank(), what);
  } catch (const Error& e) {
    if (aborted_) abortReason_ = e.what();
    throw;
  }
}

void NcclCommunicator::settle(ncclComm_t comm, ncclResult_t result, const std::string& what) {
  if (result != ncclSuccess && result != ncclInProgress) {
    const char* last = comm ? ncclGetLastError(comm) : nullptr;
    std::string message = fmt::format("rank {}: {} failed: NCCL error {}{}{}", rank(), what,
                                      ncclGetErrorString(result), last && *last ? ": " : "", last ? last : "");
    if (comm == comm_) abort(message);
    else if (comm) ncclCommAbort(comm);
    KAON_FAIL("{}", message);
  }
  if (result == ncclSuccess) return;
  auto pending = [&] {
    ncclResult_t state = ncclSuccess;
    KAON_NCCL_CHECK(ncclCommGetAsyncError(comm, &state));
    return state;
  };
  detail::CompletionProbes probes{
      [&] { return pending() != ncclInProgress; },
      [&] {
        ncclResult_t s = pending();
        return s == ncclSuccess || s == ncclInProgress ? std::string() : asyncError(comm);
      },
      [&] {
        if (comm == comm_) abort(what);
        else ncclCommAbort(comm);
      }};
  try {
    detail::waitForCompletion(probes, options_.timeoutSeconds, std::chrono::steady_clock::now(), rank(), what);
  } catch (const Error& e) {
    if (aborted_) abortReason_ = e.what();
    throw;
  }
  const std::string err = asyncError(comm);
  if (!err.empty()) {
    if (comm == comm_) abort(err);
    throw Error(fmt::format("rank {}: {} failed: {}", rank(), what, err));
  }
}

std::unique_ptr<NcclRequest> NcclCommunicator::launch(std::string what, const std::function<ncclResult_t()>& enqueue) {
  checkUsable();
  cudaStream_t compute = cuda::computeStream(device_.index);
  // The NCCL stream waits for what the compute stream has queued so far (the event's state is
  // captured by cudaStreamWaitEvent, so the event can be reused at once).
  cudaEvent_t ready = acquireEvent();
  KAON_CUDA_CHECK(cudaEventRecord(ready, compute));
  KAON_CUDA_CHECK(cudaStreamWaitEvent(stream_, ready, 0));
  releaseEvent(ready);
  settle(comm_, enqueue(), what);
  cudaEvent_t done = acquireEvent();
  KAON_CUDA_CHECK(cudaEventRecord(done, stream_));
  return std::make_unique<NcclRequest>(*this, done, std::move(what));
}

void NcclCommunicator::checkBuffer(const Tensor& t, const char* op) const {
  KAON_CHECK(t.defined(), "NCCL {}: undefined tensor", op);
  KAON_CHECK(t.device() == device_, "NCCL {}: the communicator works on {}, the tensor is on {}", op, device_.str(),
             t.device().str());
}

void NcclCommunicator::checkPeer(int r) const {
  KAON_CHECK(r >= 0 && r < size(), "rank {} outside communicator of size {}", r, size());
}

std::string NcclCommunicator::describe(const char* op, const Tensor& t) const {
  return fmt::format("NCCL {} of {} {} values ({:.2f} MB) on {}", op, t.numel(), dtypeName(t.dtype()),
                     static_cast<double>(t.bytes()) / (1 << 20), device_.str());
}

// ---- operations (host tensors go to the MPI communicator underneath) --------------------------

std::unique_ptr<Request> NcclCommunicator::allreduceAsync(const Tensor& b, ReduceOp op) {
  if (b.device().isCpu()) return host_.allreduceAsync(b, op);
  checkBuffer(b, "allreduce");
  return launch(describe("allreduce", b), [&] {
    return ncclAllReduce(b.raw(), b.raw(), static_cast<std::size_t>(b.numel()), ncclType(b.dtype()), ncclOp(op), comm_,
                         stream_);
  });
}

void NcclCommunicator::allreduce(const Tensor& b, ReduceOp op) {
  if (b.device().isCpu()) return host_.allreduce(b, op);
  allreduceAsync(b, op)->wait();
}

void NcclCommunicator::broadcast(const Tensor& b, int root) {
  if (b.device().isCpu()) return host_.broadcast(b, root);
  checkBuffer(b, "broadcast");
  checkPeer(root);
  launch(describe("broadcast", b), [&] {
    return ncclBroadcast(b.raw(), b.raw(), static_cast<std::size_t>(b.numel()), ncclType(b.dtype()), root, comm_,
                         stream_);
  })->wait();
}

void NcclCommunicator::allgather(const Tensor& send, const Tensor& recv) {
  if (send.device().isCpu() && recv.device().isCpu()) return host_.allgather(send, recv);
  checkBuffer(send, "allgather");
  checkBuffer(recv, "allgather");
  KAON_CHECK(recv.numel() == send.numel() * size() && recv.dtype() == send.dtype(),
             "allgather: receive buffer of {} elements for {} ranks x {}", recv.numel(), size(), send.numel());
  launch(describe("allgather", send), [&] {
    return ncclAllGather(send.raw(), recv.raw(), static_cast<std::size_t>(send.numel()), ncclType(send.dtype()), comm_,
                         stream_);
  })->wait();
}

std::unique_ptr<Request> NcclCommunicator::sendAsync(const Tensor& b, int dest, int tag) {
  if (b.device().isCpu()) return host_.sendAsync(b, dest, tag);
  checkBuffer(b, "send");
  checkPeer(dest);
  return launch(describe("send", b) + fmt::format(" to rank {}", dest), [&] {
    return ncclSend(b.raw(), static_cast<std::size_t>(b.numel()), ncclType(b.dtype()), dest, comm_, stream_);
  });
}

std::unique_ptr<Request> NcclCommunicator::recvAsync(const Tensor& b, int source, int tag) {
  if (b.device().isCpu()) return host_.recvAsync(b, source, tag);
  checkBuffer(b, "recv");
  checkPeer(source);
  return launch(describe("recv", b) + fmt::format(" from rank {}", source), [&] {
    return ncclRecv(b.raw(), static_cast<std::size_t>(b.numel()), ncclType(b.dtype()), source, comm_, stream_);
  });
}

void NcclCommunicator::send(const Tensor& b, int dest, int tag) { sendAsync(b, dest, tag)->wait(); }
void NcclCommunicator::recv(const Tensor& b, int source, int tag) { recvAsync(b, source, tag)->wait(); }

int NcclCommunicator::recvAny(const Tensor& b, int tag) {
  if (b.device().isCpu()) return host_.recvAny(b, tag);
  throw NotImplemented("recvAny (receive from whichever rank sends first) of a GPU buffer over NCCL, which has no "
                       "wildcard source; use the MPI or the staged communicator");
}

void NcclCommunicator::barrier() {
  // A one-element allreduce every rank must join; the host waits for it (and so for all NCCL
  // work queued before it on this communicator's stream).
  allreduce(barrierScratch_, ReduceOp::Sum);
}

std::unique_ptr<Communicator> NcclCommunicator::split(int color, int key) {
  checkUsable();
  // A fresh communicator over the host split (unique id from the part's rank 0), the same path
  // as start-up: ncclCommSplit on a non-blocking communicator failed with "invalid argument" in
  // the first use of the next collective (H200, NCCL 2.28).
  std::unique_ptr<Communicator> hostPart = host_.split(color, key);
  Communicator& hostRef = *hostPart;
  return create(hostRef, std::move(hostPart), device_, options_);
}

bool ncclBuilt() { return true; }

std::unique_ptr<Communicator> makeNcclCommunicator(Communicator& bootstrap, Device device, NcclOptions options) {
  return NcclCommunicator::create(bootstrap, nullptr, device, options);
}

}  // namespace kaon::comm
