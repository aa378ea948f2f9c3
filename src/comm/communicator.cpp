#include "kaon/comm/communicator.hpp"

#include <mpi.h>

#include "kaon/comm/device_selection.hpp"

namespace kaon::comm {

std::vector<double> Communicator::allreduce(std::vector<double> values, ReduceOp op) {
  Tensor t = Tensor::fromVector<double>(Shape{static_cast<std::int64_t>(values.size())}, values);
  allreduce(t, op);
  return t.toVector<double>();
}

std::vector<double> Communicator::allgather(double x) {
  Tensor send = Tensor::fromVector<double>(Shape{1}, {x});
  Tensor recv = Tensor::empty(Shape{size()}, DType::Float64);
  allgather(send, recv);
  return recv.toVector<double>();
}

namespace {

class DoneRequest : public Request {
 public:
  void wait() override {}
  bool test() override { return true; }
};

class LocalCommunicator : public Communicator {
 public:
  std::string name() const override { return "local"; }
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int localRank() const override { return 0; }
  int localSize() const override { return 1; }
  bool supportsDevice(Device) const override { return true; }  // nothing moves anywhere
  bool threadSafe() const override { return true; }  // no state, nothing shared
  void allreduce(const Tensor&, ReduceOp) override {}
  std::unique_ptr<Request> allreduceAsync(const Tensor&, ReduceOp) override { return std::make_unique<DoneRequest>(); }
  void broadcast(const Tensor&, int root) override { checkPeer(root); }
  void allgather(const Tensor& send, const Tensor& recv) override {
    KAON_CHECK(recv.numel() == send.numel() && recv.dtype() == send.dtype(), "allgather: receive buffer does not fit");
    recv.copyFrom(send.reshape(recv.shape()));
  }
  void send(const Tensor&, int dest, int) override { noPeer(dest); }
  void recv(const Tensor&, int source, int) override { noPeer(source); }
  int recvAny(const Tensor&, int) override { KAON_FAIL("local communicator has no peers to receive from"); }
  std::unique_ptr<Request> sendAsync(const Tensor&, int dest, int) override { noPeer(dest); }
  std::unique_ptr<Request> recvAsync(const Tensor&, int source, int) override { noPeer(source); }
  void barrier() override {}
  std::unique_ptr<Communicator> split(int, int) override { return std::make_unique<LocalCommunicator>(); }

 private:
  static void checkPeer(int r) { KAON_CHECK(r == 0, "local communicator has only rank 0, not {}", r); }
  [[noreturn]] static void noPeer(int r) { KAON_FAIL("local communicator has no peer rank {} to talk to", r); }
};

}  // namespace

std::unique_ptr<Communicator> makeLocalCommunicator() { return std::make_unique<LocalCommunicator>(); }

std::unique_ptr<Communicator> makeDefaultCommunicator() {
  int initialised = 0, finalised = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalised);
  if (initialised && !finalised) {
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > 1) return makeWorldCommunicator();
  }
  return makeLocalCommunicator();
}

}  // namespace kaon::comm

namespace kaon::comm {

std::unique_ptr<Communicator> makeDeviceCommunicator(Communicator& host, Device device, DeviceTransport transport,
                                                     double timeoutSeconds) {
  KAON_CHECK(device.isCuda(), "device communicator: {} is not a GPU", device.str());
  // Auto: NCCL where it can serve (built, one GPU per rank); ncclBuilt() is the same on every
  // rank, so every rank takes part in the same collectives here.
  bool nccl = transport == DeviceTransport::Nccl;
  if (transport == DeviceTransport::Auto) nccl = ncclBuilt() && !sharedGpuConflict(host, device);
  if (nccl) return makeNcclCommunicator(host, device, NcclOptions{timeoutSeconds});
  return makeStagedCommunicator(host);
}

}  // namespace kaon::comm
