// The communication thread's ring allreduce (src/train/ring_allreduce.hpp) against
// MPI_Allreduce: sums and averages of float32 and float64 buffers of odd sizes and of sizes
// below the rank count (empty chunks), bitwise equal on every rank and run to run, the same
// bits whatever the segmentation and polling, asleep while a rank is late, its environment
// knobs validated, and a failing send reported as an exception on every rank instead of a hang.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <random>
#include <thread>

#include "../../src/train/ring_allreduce.hpp"
#include "../support/test_util.hpp"
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

// Segment lanes only cut chunks into sub-ranges, each summed in the same ring order: any
// segmentation (many lanes, lanes with empty segments, the defaults' lanes on a large buffer)
// and any polling must give bit for bit the one-lane result, which matches MPI_Allreduce.
TEST(RingAllreduce, SegmentLanesAndPollingDoNotChangeABit) {
  auto world = comm::makeWorldCommunicator();
  const int p = world->size();
  RingPolling oneLane;
  oneLane.segments = 1;
  oneLane.spin = std::chrono::microseconds(0);
  oneLane.yield = false;
  RingPolling manyShort = oneLane, everyElement = oneLane, defaults;
  manyShort.segments = 3;
  manyShort.minSegmentBytes = 4;
  everyElement.segments = kMaxRingSegments;
  everyElement.minSegmentBytes = 1;
  everyElement.spin = std::chrono::microseconds(100000);  // spins through the whole call
  Tensor scratch;
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (comm::ReduceOp op : {comm::ReduceOp::Sum, comm::ReduceOp::Average}) {
      for (std::int64_t n : std::vector<std::int64_t>{1, 2, p + 1, 7, 130, 1001, 300007}) {
        const std::string what = fmt::format("{} elements of {}, {}", n, dtypeName(dtype),
                                             op == comm::ReduceOp::Sum ? "sum" : "average");
        Tensor input = randomBuffer(n, dtype, world->rank());
        Tensor want = input.clone(), reference = input.clone();
        world->allreduce(want, op);
        ringAllreduce(*world, reference, op, scratch, oneLane);
        dispatchFloat(dtype, [&](auto tag) { expectMatches<decltype(tag)>(reference, want, p, what); });
        for (const RingPolling& polling : {manyShort, everyElement, defaults}) {
          Tensor got = input.clone();
          ringAllreduce(*world, got, op, scratch, polling);
          EXPECT_TRUE(std::memcmp(got.raw(), reference.raw(), n * dtypeSize(dtype)) == 0)
              << what << ", " << polling.segments << " segments of at least " << polling.minSegmentBytes
              << " bytes: differs from one lane";
        }
      }
    }
  }
}

double threadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// The ranks waiting for a late one spin only `spin` after their last progress, then sleep:
// their CPU time over the wait stays a small part of it (a loop that kept spinning would be
// on a core the whole time; CPU time cannot be inflated by a busy machine).
TEST(RingAllreduce, RanksWaitingForALateRankSleep) {
  auto world = comm::makeWorldCommunicator();
  Tensor t = randomBuffer(100000, DType::Float32, world->rank()), scratch;
  world->barrier();
  const auto late = std::chrono::milliseconds(300);
  if (world->rank() == 0) std::this_thread::sleep_for(late);
  const double cpu0 = threadCpuSeconds();
  const auto wall0 = std::chrono::steady_clock::now();
  ringAllreduce(*world, t, comm::ReduceOp::Sum, scratch, RingPolling{});
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const double cpu = threadCpuSeconds() - cpu0;
  // Every rank checks the waiting ranks' worst (rank 0 is the one that prints).
  const bool waited = world->rank() != 0;
  const std::vector<double> worst =
      world->allreduce(std::vector<double>{waited ? cpu / wall : 0.0, waited ? -wall : -1e9}, comm::ReduceOp::Max);
  EXPECT_GE(-worst[1], 0.2) << "a rank did not wait for the late rank";
  EXPECT_LT(worst[0], 0.25) << "a waiting rank was on a core for " << 100 * worst[0] << "% of its wait";
}

using testing::ScopedEnv;

TEST(RingAllreduce, PollingFromTheEnvironment) {
  {
    ScopedEnv spin("KAON_RING_SPIN_US", "0"), segments("KAON_RING_SEGMENTS", "64"), yield("KAON_RING_SPIN_YIELD", "0");
    const RingPolling p = ringPollingFromEnv();
    EXPECT_EQ(p.spin.count(), 0);
    EXPECT_EQ(p.segments, 64);
    EXPECT_FALSE(p.yield);
  }
  {
    ScopedEnv spin("KAON_RING_SPIN_US", ""), segments("KAON_RING_SEGMENTS", "");  // empty: the defaults
    const RingPolling p = ringPollingFromEnv(), d;
    EXPECT_EQ(p.spin, d.spin);
    EXPECT_EQ(p.segments, d.segments);
    EXPECT_EQ(p.yield, d.yield);
  }
  const std::vector<std::pair<const char*, const char*>> bad{
      {"KAON_RING_SPIN_US", "-1"},    {"KAON_RING_SPIN_US", "100001"}, {"KAON_RING_SPIN_US", "50us"},
      {"KAON_RING_SPIN_US", "fast"},  {"KAON_RING_SEGMENTS", "0"},     {"KAON_RING_SEGMENTS", "65"},
      {"KAON_RING_SEGMENTS", "4.5"},  {"KAON_RING_SPIN_YIELD", "2"},   {"KAON_RING_SPIN_YIELD", "yes"},
      {"KAON_RING_SEGMENTS", "99999999999999999999"}};
  for (const auto& [name, value] : bad) {
    ScopedEnv env(name, value);
    try {
      (void)ringPollingFromEnv();
      ADD_FAILURE() << name << "='" << value << "' was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(value), std::string::npos) << e.what();
    }
  }
  Tensor scratch, t = Tensor::zeros(Shape{8});
  auto world = comm::makeWorldCommunicator();
  RingPolling none;
  none.segments = 0;
  EXPECT_THROW(ringAllreduce(*world, t, comm::ReduceOp::Sum, scratch, none), Error);
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

// The same with four lanes: each rank fails at its sixth send, posted once two lanes finished
// their first exchange (which needs only the first sends of every rank), while other lanes
// have requests in flight.
TEST(RingAllreduce, AFailedSendWithLanesInFlightIsThrownWithoutAHang) {
  auto world = comm::makeWorldCommunicator();
  auto own = world->split(0, world->rank());
  FailingSends failing(*own, 6);
  Tensor t = randomBuffer(4000, DType::Float32, world->rank()), scratch;
  RingPolling lanes;
  lanes.segments = 4;
  lanes.minSegmentBytes = 4;
  try {
    ringAllreduce(failing, t, comm::ReduceOp::Sum, scratch, lanes);
    FAIL() << "the failed send was not reported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("simulated network failure in send 6"), std::string::npos) << e.what();
  }
  world->barrier();
}

}  // namespace
}  // namespace kaon::train
