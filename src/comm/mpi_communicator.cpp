// MPI communicator over CPU buffers (and GPU buffers when the MPI library is CUDA-aware).
// Every call is checked; MPI errors become kaon::Error (MPI_ERRORS_RETURN is set on the
// communicator so MPI does not abort on its own).
#include <mpi.h>
#if defined(OPEN_MPI) && __has_include(<mpi-ext.h>)
#include <mpi-ext.h>  // MPIX_Query_cuda_support
#endif

#include <cstdlib>
#include <cstring>

#include "kaon/comm/communicator.hpp"
#include "kaon/core/runtime.hpp"
#include "kaon/ops/elementwise.hpp"

namespace kaon::comm {
namespace {

#define KAON_MPI_CHECK(call)                                                            \
  do {                                                                                  \
    int kaonMpiRc_ = (call);                                                            \
    if (kaonMpiRc_ != MPI_SUCCESS) {                                                    \
      char kaonMpiMsg_[MPI_MAX_ERROR_STRING];                                           \
      int kaonMpiLen_ = 0;                                                              \
      MPI_Error_string(kaonMpiRc_, kaonMpiMsg_, &kaonMpiLen_);                          \
      KAON_FAIL("MPI error in {}: {}", #call, std::string(kaonMpiMsg_, kaonMpiLen_));   \
    }                                                                                   \
  } while (0)

MPI_Datatype mpiType(DType t) {
  switch (t) {
    case DType::Float32: return MPI_FLOAT;
    case DType::Float64: return MPI_DOUBLE;
    case DType::Int32: return MPI_INT32_T;
    case DType::Int64: return MPI_INT64_T;
    case DType::UInt8: return MPI_UINT8_T;
    default: KAON_FAIL("MPI communicator: dtype {} is not supported", dtypeName(t));
  }
}

MPI_Op mpiOp(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Average: return MPI_SUM;  // Average divides afterwards
    case ReduceOp::Max: return MPI_MAX;
    case ReduceOp::Min: return MPI_MIN;
  }
  return MPI_SUM;
}

// GPU buffers only with a CUDA-aware MPI, which reads device memory with its own copies: the
// compute stream is drained first so the buffer holds what the queued kernels wrote.
void checkBuffer(const Tensor& t, const char* op, bool cudaAware) {
  KAON_CHECK(t.defined(), "MPI {}: undefined tensor", op);
  if (t.device().isCuda()) {
    KAON_CHECK(cudaAware, "MPI {}: a tensor on {} needs a CUDA-aware MPI (this one is not; "
               "use the NCCL or the staged communicator)", op, t.device().str());
    cudaSynchronize(t.device().index);
  }
  KAON_CHECK(t.numel() < (std::int64_t{1} << 31), "MPI {}: {} elements exceed MPI's int count", op, t.numel());
}

void scaleForAverage(const Tensor& t, int size) {
  if (t.device().isCuda()) {
    ops::scaleInPlace(t, 1.0 / static_cast<double>(size));
    return;
  }
  dispatchFloat(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    const T s = T(1) / static_cast<T>(size);
    // The count hoisted: numel() in the condition is a call per element that the compiler
    // cannot hoist past the stores (they may alias the shape), which kept this loop scalar;
    // it was a third of the communication thread's CPU time (docs/perf-notes.md §9).
    const std::int64_t n = t.numel();
    for (std::int64_t i = 0; i < n; ++i) p[i] *= s;
  });
}

class MpiRequest : public Request {
 public:
  MpiRequest(MPI_Request r, Tensor averageTarget, int size) : request_(r), average_(std::move(averageTarget)), size_(size) {}
  ~MpiRequest() override {
    // A request must not be dropped in flight: the buffer would be written after release.
    if (request_ != MPI_REQUEST_NULL) MPI_Wait(&request_, MPI_STATUS_IGNORE);
  }
  void wait() override {
    if (request_ != MPI_REQUEST_NULL) KAON_MPI_CHECK(MPI_Wait(&request_, MPI_STATUS_IGNORE));
    finish();
  }
  bool test() override {
    if (request_ == MPI_REQUEST_NULL) return true;
    int done = 0;
    KAON_MPI_CHECK(MPI_Test(&request_, &done, MPI_STATUS_IGNORE));
    if (done) finish();
    return done != 0;
  }

 private:
  void finish() {
    if (average_.defined()) {
      scaleForAverage(average_, size_);
      average_ = Tensor();
    }
  }
  MPI_Request request_;
  Tensor average_;
  int size_;
};

class MpiCommunicator : public Communicator {
 public:
  explicit MpiCommunicator(MPI_Comm comm) : comm_(comm), cudaAware_(mpiCudaAware()) {
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    KAON_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
    KAON_MPI_CHECK(MPI_Comm_size(comm_, &size_));
    MPI_Comm node;
    KAON_MPI_CHECK(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
    MPI_Comm_rank(node, &localRank_);
    MPI_Comm_size(node, &localSize_);
    MPI_Comm_free(&node);
    int level = MPI_THREAD_SINGLE;
    KAON_MPI_CHECK(MPI_Query_thread(&level));
    threadMultiple_ = level == MPI_THREAD_MULTIPLE;
  }
  ~MpiCommunicator() override {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Comm_free(&comm_);
  }

  std::string name() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int localRank() const override { return localRank_; }
  int localSize() const override { return localSize_; }
  bool supportsDevice(Device d) const override { return d.isCpu() || cudaAware_; }
  bool threadSafe() const override { return threadMultiple_; }

  void allreduce(const Tensor& b, ReduceOp op) override {
    checkBuffer(b, "allreduce", cudaAware_);
    KAON_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, b.raw(), count(b), mpiType(b.dtype()), mpiOp(op), comm_));
    if (op == ReduceOp::Average) scaleForAverage(b, size_);
  }
  std::unique_ptr<Request> allreduceAsync(const Tensor& b, ReduceOp op) override {
    checkBuffer(b, "allreduce", cudaAware_);
    MPI_Request r;
    KAON_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, b.raw(), count(b), mpiType(b.dtype()), mpiOp(op), comm_, &r));
    return std::make_unique<MpiRequest>(r, op == ReduceOp::Average ? b : Tensor(), size_);
  }
  void broadcast(const Tensor& b, int root) override {
    checkBuffer(b, "broadcast", cudaAware_);
    checkRank(root);
    KAON_MPI_CHECK(MPI_Bcast(b.raw(), count(b), mpiType(b.dtype()), root, comm_));
  }
  void allgather(const Tensor& send, const Tensor& recv) override {
    checkBuffer(send, "allgather", cudaAware_);
    checkBuffer(recv, "allgather", cudaAware_);
    KAON_CHECK(recv.numel() == send.numel() * size_ && recv.dtype() == send.dtype(),
               "allgather: receive buffer of {} elements for {} ranks x {}", recv.numel(), size_, send.numel());
    KAON_MPI_CHECK(MPI_Allgather(send.raw(), count(send), mpiType(send.dtype()), recv.raw(), count(send),
                                 mpiType(send.dtype()), comm_));
  }
  void send(const Tensor& b, int dest, int tag) override {
    checkBuffer(b, "send", cudaAware_);
    checkRank(dest);
    KAON_MPI_CHECK(MPI_Send(b.raw(), count(b), mpiType(b.dtype()), dest, tag, comm_));
  }
  void recv(const Tensor& b, int source, int tag) override {
    checkBuffer(b, "recv", cudaAware_);
    checkRank(source);
    KAON_MPI_CHECK(MPI_Recv(b.raw(), count(b), mpiType(b.dtype()), source, tag, comm_, MPI_STATUS_IGNORE));
  }
  int recvAny(const Tensor& b, int tag) override {
    checkBuffer(b, "recv", cudaAware_);
    MPI_Status status;
    KAON_MPI_CHECK(MPI_Recv(b.raw(), count(b), mpiType(b.dtype()), MPI_ANY_SOURCE, tag, comm_, &status));
    int received = 0;
    MPI_Get_count(&status, mpiType(b.dtype()), &received);
    KAON_CHECK(received == count(b), "recv from rank {}: {} elements arrived, {} expected", status.MPI_SOURCE, received,
               count(b));
    return status.MPI_SOURCE;
  }
  std::unique_ptr<Request> sendAsync(const Tensor& b, int dest, int tag) override {
    checkBuffer(b, "send", cudaAware_);
    checkRank(dest);
    MPI_Request r;
    KAON_MPI_CHECK(MPI_Isend(b.raw(), count(b), mpiType(b.dtype()), dest, tag, comm_, &r));
    return std::make_unique<MpiRequest>(r, Tensor(), size_);
  }
  std::unique_ptr<Request> recvAsync(const Tensor& b, int source, int tag) override {
    checkBuffer(b, "recv", cudaAware_);
    checkRank(source);
    MPI_Request r;
    KAON_MPI_CHECK(MPI_Irecv(b.raw(), count(b), mpiType(b.dtype()), source, tag, comm_, &r));
    return std::make_unique<MpiRequest>(r, Tensor(), size_);
  }
  void barrier() override { KAON_MPI_CHECK(MPI_Barrier(comm_)); }
  std::unique_ptr<Communicator> split(int color, int key) override {
    MPI_Comm out;
    KAON_MPI_CHECK(MPI_Comm_split(comm_, color, key, &out));
    return std::make_unique<MpiCommunicator>(out);
  }

 private:
  static int count(const Tensor& t) { return static_cast<int>(t.numel()); }
  void checkRank(int r) const { KAON_CHECK(r >= 0 && r < size_, "rank {} outside communicator of size {}", r, size_); }

  MPI_Comm comm_;
  bool cudaAware_ = false;
  bool threadMultiple_ = false;
  int rank_ = 0, size_ = 1, localRank_ = 0, localSize_ = 1;
};

}  // namespace

bool mpiCudaAware() {
  if (const char* force = std::getenv("KAON_MPI_CUDA_AWARE"); force && *force)
    return std::strcmp(force, "0") != 0 && cudaBuilt();
#if defined(MPIX_CUDA_AWARE_SUPPORT)
  return cudaBuilt() && MPIX_Query_cuda_support() == 1;
#else
  return false;  // no way to ask this MPI: assume host memory only
#endif
}

std::unique_ptr<Communicator> makeWorldCommunicator() {
  int initialised = 0;
  MPI_Initialized(&initialised);
  KAON_CHECK(initialised, "makeWorldCommunicator: MPI is not initialised");
  MPI_Comm dup;
  KAON_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &dup));
  return std::make_unique<MpiCommunicator>(dup);
}

}  // namespace kaon::comm
