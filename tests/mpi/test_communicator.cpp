// Communicator collectives and point-to-point over MPI (run with 2 and 4 ranks).
#include <gtest/gtest.h>

#include "kaon/comm/communicator.hpp"

namespace kaon::comm {
namespace {

TEST(MpiCommunicator, Collectives) {
  auto c = makeWorldCommunicator();
  const int r = c->rank(), n = c->size();
  ASSERT_GE(n, 2) << "run under mpiexec -n 2 or more";
  EXPECT_GE(c->localSize(), 1);
  EXPECT_LT(c->localRank(), c->localSize());

  Tensor x = Tensor::fromVector<float>(Shape{3}, {1.0f * r, 2.0f, -1.0f * r});
  c->allreduce(x, ReduceOp::Sum);
  float s = n * (n - 1) / 2.0f;
  EXPECT_EQ(x.toVector<float>(), (std::vector<float>{s, 2.0f * n, -s}));

  Tensor a = Tensor::fromVector<double>(Shape{2}, {static_cast<double>(r), 1.0});
  c->allreduce(a, ReduceOp::Average);
  EXPECT_DOUBLE_EQ(a.item(0), (n - 1) / 2.0);
  EXPECT_DOUBLE_EQ(a.item(1), 1.0);

  Tensor m = Tensor::fromVector<float>(Shape{1}, {static_cast<float>(r)});
  c->allreduce(m, ReduceOp::Max);
  EXPECT_EQ(m.item(0), n - 1);

  Tensor b = Tensor::full(Shape{4}, r == 1 ? 7.0 : 0.0);
  c->broadcast(b, 1);
  EXPECT_EQ(b.toVector<float>(), std::vector<float>(4, 7.0f));

  std::vector<double> all = c->allgather(static_cast<double>(10 * r));
  for (int k = 0; k < n; ++k) EXPECT_EQ(all[k], 10.0 * k);

  Tensor big = Tensor::full(Shape{100000}, 1.0);
  auto req = c->allreduceAsync(big, ReduceOp::Average);
  req->wait();
  EXPECT_FLOAT_EQ(big.toVector<float>()[99999], 1.0f);
  c->barrier();
}

TEST(MpiCommunicator, RingSendRecvAndSplit) {
  auto c = makeWorldCommunicator();
  const int r = c->rank(), n = c->size();
  Tensor out = Tensor::full(Shape{5}, r), in = Tensor::zeros(Shape{5});
  auto recv = c->recvAsync(in, (r + n - 1) % n, 3);
  c->send(out, (r + 1) % n, 3);
  recv->wait();
  EXPECT_EQ(in.item(4), (r + n - 1) % n);

  auto half = c->split(r % 2, r);
  EXPECT_EQ(half->size(), (n + 1 - r % 2) / 2);
  EXPECT_EQ(half->rank(), r / 2);
  Tensor v = Tensor::full(Shape{1}, 1.0);
  half->allreduce(v, ReduceOp::Sum);
  EXPECT_EQ(v.item(0), half->size());
  EXPECT_THROW(c->send(out, n, 0), Error);  // rank outside the communicator
}

TEST(LocalCommunicator, IsAWorldOfOne) {
  auto c = makeLocalCommunicator();
  Tensor x = Tensor::full(Shape{2}, 3.0);
  c->allreduce(x, ReduceOp::Average);
  EXPECT_EQ(x.item(0), 3.0);
  EXPECT_THROW(c->send(x, 1, 0), Error);
}

}  // namespace
}  // namespace kaon::comm
