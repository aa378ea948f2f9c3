// Staged communicator: GPU tensors travel through page-locked host buffers over a host
// communicator (MPI). Used where NCCL cannot serve: the master/worker modes (recvAny), ranks
// sharing a GPU, builds without NCCL. Tensors the host communicator accepts as they are (host
// memory, or GPU memory with a CUDA-aware MPI) pass straight through.
//
// Each staged operation copies the GPU buffer to the host (on the compute stream, after the
// work that produced it; the host waits), runs the host operation and copies the result back
// (the host waits again), so the compute-stream contract of communicator.hpp holds.
#include "kaon/comm/communicator.hpp"

namespace kaon::comm {
namespace {

class StagedRequest final : public Request {
 public:
  StagedRequest(Tensor host, std::unique_ptr<Request> inner, Tensor copyBackTo)
      : host_(std::move(host)), copyBack_(std::move(copyBackTo)), inner_(std::move(inner)) {}
  // inner_ (declared last) is destroyed first and waits for MPI, then host_ is released.
  void wait() override {
    if (done_) return;
    inner_->wait();
    finish();
  }
  bool test() override {
    if (done_) return true;
    if (!inner_->test()) return false;
    finish();
    return true;
  }

 private:
  void finish() {
    if (copyBack_.defined()) copyBack_.copyFrom(host_);
    copyBack_ = Tensor();
    done_ = true;
  }
  Tensor host_, copyBack_;
  std::unique_ptr<Request> inner_;
  bool done_ = false;
};

class StagedCommunicator final : public Communicator {
 public:
  StagedCommunicator(Communicator& host, std::unique_ptr<Communicator> owned) : host_(host), owned_(std::move(owned)) {}

  std::string name() const override { return "staged(" + host_.name() + ")"; }
  int rank() const override { return host_.rank(); }
  int size() const override { return host_.size(); }
  int localRank() const override { return host_.localRank(); }
  int localSize() const override { return host_.localSize(); }
  bool supportsDevice(Device) const override { return true; }

  void allreduce(const Tensor& b, ReduceOp op) override {
    if (direct(b)) return host_.allreduce(b, op);
    Tensor h = stage(b, true);
    host_.allreduce(h, op);
    b.copyFrom(h);
  }
  std::unique_ptr<Request> allreduceAsync(const Tensor& b, ReduceOp op) override {
    if (direct(b)) return host_.allreduceAsync(b, op);
    Tensor h = stage(b, true);
    auto inner = host_.allreduceAsync(h, op);
    return std::make_unique<StagedRequest>(h, std::move(inner), b);
  }
  void broadcast(const Tensor& b, int root) override {
    if (direct(b)) return host_.broadcast(b, root);
    Tensor h = stage(b, rank() == root);
    host_.broadcast(h, root);
    if (rank() != root) b.copyFrom(h);
  }
  void allgather(const Tensor& send, const Tensor& recv) override {
    if (direct(send) && direct(recv)) return host_.allgather(send, recv);
    Tensor hs = stage(send, true), hr = stage(recv, false);
    host_.allgather(hs, hr);
    recv.copyFrom(hr);
  }
  void send(const Tensor& b, int dest, int tag) override {
    if (direct(b)) return host_.send(b, dest, tag);
    host_.send(stage(b, true), dest, tag);
  }
  void recv(const Tensor& b, int source, int tag) override {
    if (direct(b)) return host_.recv(b, source, tag);
    Tensor h = stage(b, false);
    host_.recv(h, source, tag);
    b.copyFrom(h);
  }
  int recvAny(const Tensor& b, int tag) override {
    if (direct(b)) return host_.recvAny(b, tag);
    Tensor h = stage(b, false);
    int source = host_.recvAny(h, tag);
    b.copyFrom(h);
    return source;
  }
  std::unique_ptr<Request> sendAsync(const Tensor& b, int dest, int tag) override {
    if (direct(b)) return host_.sendAsync(b, dest, tag);
    Tensor h = stage(b, true);
    auto inner = host_.sendAsync(h, dest, tag);
    return std::make_unique<StagedRequest>(h, std::move(inner), Tensor());
  }
  std::unique_ptr<Request> recvAsync(const Tensor& b, int source, int tag) override {
    if (direct(b)) return host_.recvAsync(b, source, tag);
    Tensor h = stage(b, false);
    auto inner = host_.recvAsync(h, source, tag);
    return std::make_unique<StagedRequest>(h, std::move(inner), b);
  }
  void barrier() override { host_.barrier(); }
  std::unique_ptr<Communicator> split(int color, int key) override {
    std::unique_ptr<Communicator> part = host_.split(color, key);
    Communicator& ref = *part;
    return std::make_unique<StagedCommunicator>(ref, std::move(part));
  }

 private:
  bool direct(const Tensor& t) const { return !t.defined() || host_.supportsDevice(t.device()); }
  // A page-locked host twin of t (holding t's values when copyIn).
  static Tensor stage(const Tensor& t, bool copyIn) {
    Tensor h = Tensor::emptyPinned(t.shape(), t.dtype());
    if (copyIn) h.copyFrom(t);
    return h;
  }

  Communicator& host_;
  std::unique_ptr<Communicator> owned_;  // set for communicators made by split()
};

}  // namespace

std::unique_ptr<Communicator> makeStagedCommunicator(Communicator& host) {
  return std::make_unique<StagedCommunicator>(host, nullptr);
}

}  // namespace kaon::comm
