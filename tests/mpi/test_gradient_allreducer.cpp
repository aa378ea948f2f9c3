// The bucketed gradient allreducer on its own: both paths (communication thread, non-blocking)
// equal one plain allreduce of the whole gradient for any bucket size, are deterministic, cut
// buckets at parameter boundaries, and report a failed collective on the communication thread
// as an exception on the training thread instead of hanging.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <random>

#include "kaon/comm/communicator.hpp"
#include "kaon/nn/layers/conv.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/reshape.hpp"
#include "kaon/train/gradient_allreducer.hpp"
#include "../support/test_util.hpp"

namespace kaon::train {
namespace {

using testing::ScopedEnv;

nn::Model smallCnn() {
  nn::Model m;
  m.addInput("x", Shape{2, 6, 6});
  m.add(std::make_unique<nn::Conv>("c1", nn::ConvOptions{.filters = 3, .kernel = {3}, .activation = ops::Activation::Tanh}));
  m.add(std::make_unique<nn::Reshape>("flat", std::vector<std::int64_t>{}));
  m.add(std::make_unique<nn::Dense>("d1", nn::DenseOptions{.units = 40, .activation = ops::Activation::Tanh}));
  m.add(std::make_unique<nn::Dense>("out", nn::DenseOptions{.units = 3}));
  m.build(DType::Float32, 21);
  return m;
}

// A batch that differs per rank, so the average is not any rank's own gradient.
Tensor inputFor(int rank) {
  Tensor x = Tensor::empty(Shape{4, 2, 6, 6});
  std::mt19937_64 rng(100 + static_cast<std::uint64_t>(rank));
  std::normal_distribution<float> n(0, 1);
  for (float& v : x.span<float>()) v = n(rng);
  return x;
}

// This rank's local gradient (no reduction).
Tensor localGradient(nn::Model& m, int rank) {
  Tensor y = m.forward(inputFor(rank), true);
  m.zeroGrad();
  m.backward(Tensor::full(y.shape(), 0.5));
  return m.gradients().clone();
}

// One step through the allreducer; returns the reduced gradient.
Tensor reducedGradient(nn::Model& m, GradientAllreducer& reducer, int rank) {
  Tensor y = m.forward(inputFor(rank), true);
  m.zeroGrad();
  reducer.beginBackward();
  m.backward(Tensor::full(y.shape(), 0.5));
  reducer.finishBackward();
  return m.gradients().clone();
}

TEST(GradientAllreducer, EveryBucketSizeAndModeEqualsOnePlainAllreduce) {
  auto world = comm::makeWorldCommunicator();
  ASSERT_TRUE(world->threadSafe()) << "tests/mpi/mpi_main.cpp asks for MPI_THREAD_MULTIPLE";
  nn::Model m = smallCnn();
  Tensor expected = localGradient(m, world->rank());
  world->allreduce(expected, comm::ReduceOp::Average);
  const auto want = expected.toVector<float>();
  // 1 byte: one bucket per parameter; 256: several, the big dense weight alone; 1 GiB: one.
  // The thread's buckets through MPI_Allreduce (ring 0), through the ring (all), and mixed
  // (large: the ring from 256 KB on; the 7.5 KB dense weight with a 1 GiB bucket size stays below).
  for (const char* ring : {"0", "all", "large"}) {
  ScopedEnv env("KAON_ALLREDUCE_RING", ring);
  for (std::size_t bytes : {std::size_t{1}, std::size_t{256}, std::size_t{1} << 30}) {
    for (AllreduceMode mode : {AllreduceMode::Thread, AllreduceMode::Nonblocking}) {
      GradientAllreducer reducer(m, *world, bytes, mode);
      EXPECT_EQ(reducer.mode(), mode);
      auto first = reducedGradient(m, reducer, world->rank()).toVector<float>();
      auto again = reducedGradient(m, reducer, world->rank()).toVector<float>();
      EXPECT_EQ(first, again) << "not deterministic run to run, " << allreduceModeName(mode) << ", " << bytes;
      ASSERT_EQ(first.size(), want.size());
      for (std::size_t i = 0; i < want.size(); ++i) {
        // Two ranks: a + b in any order is exact. More: MPI may associate differently per size.
        if (world->size() == 2) ASSERT_EQ(first[i], want[i]) << i << ", " << allreduceModeName(mode) << ", " << bytes;
        else ASSERT_NEAR(first[i], want[i], 1e-6 * (1 + std::abs(want[i]))) << i << ", " << bytes;
      }
    }
  }
  // Ranks agree bitwise on the result.
  GradientAllreducer reducer(m, *world, 256);
  Tensor mine = reducedGradient(m, reducer, world->rank()), root = mine.clone();
  world->broadcast(root, 0);
  EXPECT_EQ(mine.toVector<float>(), root.toVector<float>()) << "KAON_ALLREDUCE_RING=" << ring;
  }
}

TEST(GradientAllreducer, UnknownRingSettingIsRefused) {
  auto world = comm::makeWorldCommunicator();
  nn::Model m = smallCnn();
  ScopedEnv env("KAON_ALLREDUCE_RING", "yes");
  try {
    GradientAllreducer reducer(m, *world, 256, AllreduceMode::Thread);
    FAIL() << "KAON_ALLREDUCE_RING=yes was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("KAON_ALLREDUCE_RING"), std::string::npos) << e.what();
  }
  world->barrier();  // every rank did the constructor's split before the setting was read
}

TEST(GradientAllreducer, CommunicationThreadNiceValueIsValidatedAndApplied) {
  auto world = comm::makeWorldCommunicator();
  nn::Model m = smallCnn();
  for (const char* bad : {"abc", "30", "-21", "5x"}) {
    ScopedEnv env("KAON_COMM_THREAD_NICE", bad);
    EXPECT_THROW(GradientAllreducer(m, *world, 256, AllreduceMode::Thread), Error) << bad;
  }
  // A lower priority is always permitted; the thread still reduces correctly with it.
  ScopedEnv env("KAON_COMM_THREAD_NICE", "5");
  Tensor expected = localGradient(m, world->rank());
  world->allreduce(expected, comm::ReduceOp::Average);
  GradientAllreducer reducer(m, *world, 256, AllreduceMode::Thread);
  auto got = reducedGradient(m, reducer, world->rank()).toVector<float>();
  auto want = expected.toVector<float>();
  for (std::size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-6 * (1 + std::abs(want[i]))) << i;
  // The thread (named kaon-comm) runs at nice 5: field 19 of its /proc stat line.
  std::vector<int> nices;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream name(task.path() / "comm"), stat(task.path() / "stat");
    std::string n, line;
    if (!std::getline(name, n) || n != "kaon-comm" || !std::getline(stat, line)) continue;
    std::istringstream rest(line.substr(line.rfind(')') + 2));  // fields 3.. after "(comm) "
    std::string field;
    for (int k = 3; k <= 19 && rest >> field; ++k) {}
    nices.push_back(std::stoi(field));
  }
  EXPECT_EQ(nices, std::vector<int>{5});
}

TEST(GradientAllreducer, BucketsCoverTheGradientAtParameterBoundaries) {
  auto world = comm::makeWorldCommunicator();
  nn::Model m = smallCnn();
  auto params = m.namedParameters();
  auto check = [&](const GradientAllreducer& r) {
    // Contiguous, from the end of the flat buffer backwards (backward order), no gaps.
    std::int64_t end = m.parameterCount();
    int parameters = 0;
    for (const auto& b : r.buckets()) {
      EXPECT_EQ(b.offset + b.count, end);
      EXPECT_GT(b.count, 0);
      end = b.offset;
      parameters += b.parameters;
    }
    EXPECT_EQ(end, 0);
    EXPECT_EQ(parameters, static_cast<int>(params.size()));
  };
  GradientAllreducer huge(m, *world, std::size_t{1} << 30);  // larger than the model: one bucket
  EXPECT_EQ(huge.buckets().size(), 1u);
  check(huge);
  GradientAllreducer tiny(m, *world, 1);  // smaller than any parameter: one bucket each
  EXPECT_EQ(tiny.buckets().size(), params.size());
  check(tiny);
  // d1's weight (48 x 40 floats) is far larger than 256 bytes: never split, it closes the
  // bucket it joins (with d1's bias, which backward produced just before it).
  GradientAllreducer small(m, *world, 256);
  check(small);
  const nn::Parameter* d1 = nullptr;
  for (const auto& p : params)
    if (p.parameter->shape.numel() == 48 * 40) d1 = p.parameter;
  ASSERT_NE(d1, nullptr);
  bool closes = false;
  for (const auto& b : small.buckets())
    closes |= b.offset == d1->offset && b.count == 48 * 40 + 40 && b.parameters == 2;
  EXPECT_TRUE(closes);
  EXPECT_GT(small.buckets().size(), 2u);
  // A model backward produced buckets while it ran (the overlap), in thread mode too.
  reducedGradient(m, small, world->rank());
  EXPECT_GT(small.bucketsStartedDuringBackward(), 0);
}

// Forwards everything to a real communicator, but its allreduce (and that of communicators
// split from it) fails from the `failAt`-th call on, as a broken network would; every rank
// fails at the same bucket, so no rank is left waiting in a collective.
class FailingCommunicator : public comm::Communicator {
 public:
  FailingCommunicator(std::unique_ptr<comm::Communicator> inner, int failAt, bool threadSafe, bool failSends = false)
      : inner_(std::move(inner)), failAt_(failAt), threadSafe_(threadSafe), failSends_(failSends) {}
  std::string name() const override { return "failing"; }
  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  int localRank() const override { return inner_->localRank(); }
  int localSize() const override { return inner_->localSize(); }
  bool threadSafe() const override { return threadSafe_; }
  void allreduce(const Tensor& b, comm::ReduceOp op) override {
    if (++calls_ >= failAt_) KAON_FAIL("simulated network failure in allreduce call {}", calls_.load());
    inner_->allreduce(b, op);
  }
  std::unique_ptr<comm::Request> allreduceAsync(const Tensor& b, comm::ReduceOp op) override {
    return inner_->allreduceAsync(b, op);
  }
  void broadcast(const Tensor& b, int root) override { inner_->broadcast(b, root); }
  void allgather(const Tensor& s, const Tensor& r) override { inner_->allgather(s, r); }
  void send(const Tensor& b, int d, int t) override { inner_->send(b, d, t); }
  void recv(const Tensor& b, int s, int t) override { inner_->recv(b, s, t); }
  int recvAny(const Tensor& b, int t) override { return inner_->recvAny(b, t); }
  std::unique_ptr<comm::Request> sendAsync(const Tensor& b, int d, int t) override {
    if (failSends_ && ++calls_ >= failAt_) KAON_FAIL("simulated network failure in send {}", calls_.load());
    return inner_->sendAsync(b, d, t);
  }
  std::unique_ptr<comm::Request> recvAsync(const Tensor& b, int s, int t) override { return inner_->recvAsync(b, s, t); }
  void barrier() override { inner_->barrier(); }
  std::unique_ptr<comm::Communicator> split(int color, int key) override {
    return std::make_unique<FailingCommunicator>(inner_->split(color, key), failAt_, threadSafe_, failSends_);
  }

 private:
  std::unique_ptr<comm::Communicator> inner_;
  int failAt_;
  bool threadSafe_;
  bool failSends_;
  std::atomic<int> calls_{0};
};

TEST(GradientAllreducer, AFailureOnTheCommunicationThreadIsThrownOnTheTrainingThread) {
  auto world = comm::makeWorldCommunicator();
  nn::Model m = smallCnn();
  FailingCommunicator failing(world->split(0, world->rank()), 2, true);  // the second bucket fails
  {
    GradientAllreducer reducer(m, failing, 1, AllreduceMode::Thread);
    ASSERT_GT(reducer.buckets().size(), 2u);
    try {
      reducedGradient(m, reducer, world->rank());
      FAIL() << "the failed allreduce was not reported";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("simulated network failure"), std::string::npos) << e.what();
    }
    // The communicator is unusable now: every later step reports it again, none hangs.
    EXPECT_THROW(reducedGradient(m, reducer, world->rank()), Error);
  }  // and the allreducer (its thread) is destroyed without hanging
  world->barrier();
}

TEST(GradientAllreducer, AFailedRingSendOnTheCommunicationThreadIsThrownOnTheTrainingThread) {
  auto world = comm::makeWorldCommunicator();
  nn::Model m = smallCnn();
  ScopedEnv env("KAON_ALLREDUCE_RING", "all");
  // One bucket of the whole gradient (more elements than ranks: every rank sends once per ring
  // step), failing at the second send: all ranks fail in the same step, none waits for another.
  FailingCommunicator failing(world->split(0, world->rank()), 2, true, true);
  {
    GradientAllreducer reducer(m, failing, std::size_t{1} << 30, AllreduceMode::Thread);
    ASSERT_EQ(reducer.buckets().size(), 1u);
    try {
      reducedGradient(m, reducer, world->rank());
      FAIL() << "the failed ring step was not reported";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("simulated network failure in send"), std::string::npos) << e.what();
    }
    EXPECT_THROW(reducedGradient(m, reducer, world->rank()), Error);
  }
  world->barrier();
}

TEST(GradientAllreducer, ThreadModeRefusesACommunicatorThatIsNotThreadSafe) {
  auto world = comm::makeWorldCommunicator();
  nn::Model m = smallCnn();
  FailingCommunicator funneled(world->split(0, world->rank()), 1 << 30, false);
  try {
    GradientAllreducer reducer(m, funneled, 256, AllreduceMode::Thread);
    FAIL() << "thread mode accepted a communicator two threads may not use";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("MPI_THREAD_MULTIPLE"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("nonblocking"), std::string::npos) << e.what();
  }
  GradientAllreducer fallback(m, funneled, 256, AllreduceMode::Nonblocking);  // the other path still works
  Tensor expected = localGradient(m, world->rank());
  world->allreduce(expected, comm::ReduceOp::Average);
  auto got = reducedGradient(m, fallback, world->rank()).toVector<float>();
  auto want = expected.toVector<float>();
  for (std::size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-6 * (1 + std::abs(want[i]))) << i;
}

}  // namespace
}  // namespace kaon::train
