// The communication thread's ring allreduce (src/train/ring_allreduce.hpp) against
// MPI_Allreduce: sums and averages of float32 and float64 buffers of odd sizes and of sizes
// below the rank count (empty chunks), bitwise equal on every rank and run to run, and a
// failing send reported as an exception on every rank instead of a hang.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <random>

#include "../../src/train/ring_allreduce.hpp"
#include "kaon/comm/communicator.hpp"

namespace kaon::train {
namespace {

Tensor randomBuffer(std::int64_t n, DType dtype, int rank) {
  Tensor t = Tensor::empty(Shape{n}, dtype);
  std::mt19937_64 rng(static_cast<std::uint64_t>(1000 * rank + n));
  std::normal_distribution<double> normal(0, 1);
  dispatchFloat(dtype, [&](auto tag) {
    using T = decltype(tag);
    for (T& v : t.span<T>()) v = static_cast<T>(normal(rng));
  });
  return t;
}

template <class T>
void expectMatches(const Tensor& got, const Tensor& want, int ranks, const std::string& what) {
  auto g = got.toVector<T>(), w = want.toVector<T>();
  ASSERT_EQ(g.size(), w.size()) << what;
  for (std::size_t i = 0; i < w.size(); ++i) {
    // Two ranks: a + b is exact in either order. More: the ring and MPI may associate differently.
    if (ranks == 2) ASSERT_EQ(g[i], w[i]) << what << ", element " << i;
    else ASSERT_NEAR(g[i], w[i], 1e-5 * (1 + std::abs(w[i]))) << what << ", element " << i;
  }
}

TEST(RingAllreduce, MatchesMpiAllreduceAndEveryRankHoldsTheSameBits) {
  auto world = comm::makeWorldCommunicator();
  const int p = world->size();
  Tensor scratch;  // kept between calls, as the communication thread does
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (comm::ReduceOp op : {comm::ReduceOp::Sum, comm::ReduceOp::Average}) {
      // Below, at and above the rank count (empty and one-element chunks), odd, and large.
      for (std::int64_t n : std::vector<std::int64_t>{1, 2, 3, p - 1, p, p + 1, 7, 1001, 65537, 300007}) {
        if (n <= 0) continue;
        const std::string what = fmt::format("{} elements of {}, {}", n, dtypeName(dtype),
                                             op == comm::ReduceOp::Sum ? "sum" : "average");
        Tensor input = randomBuffer(n, dtype, world->rank());
        Tensor want = input.clone();
        world->allreduce(want, op);
        Tensor got = input.clone();
        ringAllreduce(*world, got, op, scratch);
        dispatchFloat(dtype, [&](auto tag) { expectMatches<decltype(tag)>(got, want, p, what); });
        // Run to run: the same input gives the same bits.
        Tensor again = input.clone();
        ringAllreduce(*world, again, op, scratch);
        EXPECT_TRUE(std::memcmp(again.raw(), got.raw(), n * dtypeSize(dtype)) == 0) << what << ": not deterministic";
        // Across ranks: rank 0's result, bit for bit.
        Tensor root = got.clone();
        world->broadcast(root, 0);
        EXPECT_TRUE(std::memcmp(root.raw(), got.raw(), n * dtypeSize(dtype)) == 0) << what << ": ranks disagree";
      }
    }
  }
}

TEST(RingAllreduce, AMultiDimensionalBufferIsReducedAsAFlatOne) {
  auto world = comm::makeWorldCommunicator();
  Tensor input = randomBuffer(5 * 7 * 3, DType::Float32, world->rank()).reshape(Shape{5, 7, 3});
  Tensor want = input.clone(), got = input.clone(), scratch;
  world->allreduce(want, comm::ReduceOp::Average);
  ringAllreduce(*world, got, comm::ReduceOp::Average, scratch);
  expectMatches<float>(got, want, world->size(), "5x7x3 average");
}

TEST(RingAllreduce, RefusesWhatItCannotReduce) {
  auto world = comm::makeWorldCommunicator();
  Tensor scratch, t = Tensor::zeros(Shape{8});
  EXPECT_THROW(ringAllreduce(*world, t, comm::ReduceOp::Max, scratch), Error);
  Tensor ints = Tensor::zeros(Shape{8}, DType::Int32);
  EXPECT_THROW(ringAllreduce(*world, ints, comm::ReduceOp::Sum, scratch), Error);
}

// Point-to-point sends fail from the `failAt`-th on (everything else is forwarded): with every
// chunk non-empty each rank sends once per ring step, so all ranks fail at the same step.
class FailingSends : public comm::Communicator {
 public:
  FailingSends(comm::Communicator& inner, int failAt) : inner_(inner), failAt_(failAt) {}
  std::string name() const override { return "failing-sends"; }
  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  int localRank() const override { return inner_.localRank(); }
  int localSize() const override { return inner_.localSize(); }
  void allreduce(const Tensor& b, comm::ReduceOp op) override { inner_.allreduce(b, op); }
  std::unique_ptr<comm::Request> allreduceAsync(const Tensor& b, comm::ReduceOp op) override {
    return inner_.allreduceAsync(b, op);
  }
  void broadcast(const Tensor& b, int root) override { inner_.broadcast(b, root); }
  void allgather(const Tensor& s, const Tensor& r) override { inner_.allgather(s, r); }
  void send(const Tensor& b, int d, int t) override { inner_.send(b, d, t); }
  void recv(const Tensor& b, int s, int t) override { inner_.recv(b, s, t); }
  int recvAny(const Tensor& b, int t) override { return inner_.recvAny(b, t); }
  std::unique_ptr<comm::Request> sendAsync(const Tensor& b, int d, int t) override {
    if (++sends_ >= failAt_) KAON_FAIL("simulated network failure in send {}", sends_.load());
    return inner_.sendAsync(b, d, t);
  }
  std::unique_ptr<comm::Request> recvAsync(const Tensor& b, int s, int t) override { return inner_.recvAsync(b, s, t); }
  void barrier() override { inner_.barrier(); }
  std::unique_ptr<comm::Communicator> split(int color, int key) override { return inner_.split(color, key); }

 private:
  comm::Communicator& inner_;
  int failAt_;
  std::atomic<int> sends_{0};
};

TEST(RingAllreduce, AFailedSendIsThrownOnEveryRankWithoutAHang) {
  auto world = comm::makeWorldCommunicator();
  auto own = world->split(0, world->rank());  // its own matching space for the abandoned step
  FailingSends failing(*own, 2);              // the second ring step fails everywhere
  Tensor t = randomBuffer(1000, DType::Float32, world->rank()), scratch;
  try {
    ringAllreduce(failing, t, comm::ReduceOp::Sum, scratch);
    FAIL() << "the failed send was not reported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("simulated network failure"), std::string::npos) << e.what();
  }
  world->barrier();
}

}  // namespace
}  // namespace kaon::train
