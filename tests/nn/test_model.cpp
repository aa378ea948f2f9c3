// Model graph: DAG wiring, several outputs, frozen layers, gradients to the input (GAN
// style), gradient-ready events, flat buffers, summary; and small nets that must learn.
#include <gtest/gtest.h>

#include <random>

#include "../support/test_util.hpp"
#include "kaon/nn/layers/activation.hpp"
#include "kaon/nn/layers/add.hpp"
#include "kaon/nn/layers/conv.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/pool.hpp"
#include "kaon/nn/layers/reshape.hpp"
#include "kaon/nn/model.hpp"
#include "kaon/ops/loss.hpp"
#include "kaon/optim/optimizer.hpp"

namespace kaon::nn {
namespace {

using testing::randomTensor;

double sumAbs(const Tensor& t) {
  double s = 0;
  Tensor d = t.cast(DType::Float64);  // named: a temporary would die before the loop runs
  for (double v : d.span<double>()) s += std::abs(v);
  return s;
}

// in -> d1 -> relu -> d2 -> (+ d1) -> head_a ; d1 -> head_b
Model skipModel() {
  Model m;
  m.addInput("x", Shape{4});
  m.add(std::make_unique<Dense>("d1", DenseOptions{6}));
  m.add(std::make_unique<ActivationLayer>("act", ops::Activation::Tanh));
  m.add(std::make_unique<Dense>("d2", DenseOptions{6}));
  m.add(std::make_unique<Add>("skip"), {"d2", "d1"});
  m.add(std::make_unique<Dense>("head_a", DenseOptions{2}));
  m.add(std::make_unique<Dense>("head_b", DenseOptions{1}), {"d1"});
  m.setOutputs({"head_a", "head_b"});
  return m;
}

double weightedSum(const std::vector<Tensor>& ys, const std::vector<Tensor>& rs) {
  double s = 0;
  for (std::size_t k = 0; k < ys.size(); ++k)
    for (std::int64_t i = 0; i < ys[k].numel(); ++i) s += ys[k].span<double>()[i] * rs[k].span<double>()[i];
  return s;
}

TEST(Model, DagWithSkipAndTwoHeadsMatchesFiniteDifferences) {
  Model m = skipModel();
  m.build(DType::Float64, 3);
  EXPECT_EQ(m.outputShapes(), (std::vector<Shape>{Shape{2}, Shape{1}}));
  Tensor x = randomTensor(Shape{5, 4}, 1, DType::Float64);
  auto ys = m.forwardMulti({x}, true);
  std::vector<Tensor> rs{randomTensor(ys[0].shape(), 2, DType::Float64), randomTensor(ys[1].shape(), 3, DType::Float64)};
  m.zeroGrad();
  auto dx = m.backwardMulti(rs, BackwardOptions{true, true});
  Tensor grads = m.gradients().clone();
  auto params = m.parameters().span<double>();
  const double eps = 1e-6;
  for (std::size_t i = 0; i < params.size(); ++i) {
    double saved = params[i];
    params[i] = saved + eps;
    double up = weightedSum(m.forwardMulti({x}, false), rs);
    params[i] = saved - eps;
    double down = weightedSum(m.forwardMulti({x}, false), rs);
    params[i] = saved;
    EXPECT_NEAR(grads.span<double>()[i], (up - down) / (2 * eps), 1e-7) << "parameter " << i;
  }
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    double saved = x.span<double>()[i];
    x.span<double>()[i] = saved + eps;
    double up = weightedSum(m.forwardMulti({x}, false), rs);
    x.span<double>()[i] = saved - eps;
    double down = weightedSum(m.forwardMulti({x}, false), rs);
    x.span<double>()[i] = saved;
    EXPECT_NEAR(dx[0].span<double>()[i], (up - down) / (2 * eps), 1e-7) << "input " << i;
  }
}

TEST(Model, FlatBuffersAndGradientReadyOrder) {
  Model m = skipModel();
  m.build(DType::Float32, 1);
  std::int64_t expected = (4 * 6 + 6) + (6 * 6 + 6) + (6 * 2 + 2) + (6 * 1 + 1);
  EXPECT_EQ(m.parameterCount(), expected);
  // Parameters are views into the one flat buffer.
  const Parameter& w = m.layer("d2").parameter("weight");
  EXPECT_TRUE(w.value.sameStorage(m.parameters()));
  EXPECT_EQ(w.value.raw(), static_cast<char*>(m.parameters().raw()) + w.offset * 4);
  std::vector<std::string> ready;
  std::int64_t covered = 0;
  m.setGradientReadyCallback([&](const GradientReady& g) {
    ready.push_back(g.layer->name() + "." + g.parameter->name);
    covered += g.count;
  });
  auto ys = m.forwardMulti({randomTensor(Shape{3, 4}, 1)}, true);
  m.backwardMulti({randomTensor(ys[0].shape(), 2), randomTensor(ys[1].shape(), 3)});
  EXPECT_EQ(covered, expected);  // every gradient announced exactly once
  ASSERT_EQ(ready.size(), 8u);
  EXPECT_EQ(ready.front(), "head_b.weight");  // reverse topological order
  EXPECT_EQ(ready.back(), "d1.bias");
}

TEST(Model, FrozenLayersAndPropagationOnly) {
  Model m = skipModel();
  m.setFrozen("d2", true);
  m.build(DType::Float64, 1);
  auto ranges = m.trainableRanges();
  std::int64_t d2Offset = m.layer("d2").parameter("weight").offset;
  for (auto [off, n] : ranges) EXPECT_TRUE(off + n <= d2Offset || off >= d2Offset + 42);
  EXPECT_EQ(m.trainableCount(), m.parameterCount() - 42);
  auto ys = m.forwardMulti({randomTensor(Shape{3, 4}, 1, DType::Float64)}, true);
  std::vector<Tensor> rs{randomTensor(ys[0].shape(), 2, DType::Float64), randomTensor(ys[1].shape(), 3, DType::Float64)};
  m.zeroGrad();
  m.backwardMulti(rs);
  EXPECT_EQ(sumAbs(m.layer("d2").parameter("weight").grad), 0.0);
  EXPECT_GT(sumAbs(m.layer("d1").parameter("weight").grad), 0.0);
  // Propagation only (the generator training through a discriminator): no parameter
  // gradient changes, yet the input gradient is produced.
  m.zeroGrad();
  auto dx = m.backwardMulti(rs, BackwardOptions{false, true});
  EXPECT_EQ(sumAbs(m.gradients()), 0.0);
  ASSERT_EQ(dx.size(), 1u);
  EXPECT_GT(sumAbs(dx[0]), 0.0);
}

TEST(Model, SummaryListsLayersAndTotals) {
  Model m = skipModel();
  m.build();
  std::string s = m.summary();
  EXPECT_NE(s.find("skip (add)"), std::string::npos);
  EXPECT_NE(s.find("(N, 6)"), std::string::npos);
  EXPECT_NE(s.find("Total params: " + std::to_string(m.parameterCount())), std::string::npos);
}

TEST(Model, RejectsBadGraphs) {
  Model m;
  m.addInput("x", Shape{4});
  m.add(std::make_unique<Dense>("d", DenseOptions{2}));
  EXPECT_THROW(m.add(std::make_unique<Dense>("d", DenseOptions{2})), Error);            // duplicate name
  EXPECT_THROW(m.add(std::make_unique<Dense>("e", DenseOptions{2}), {"nope"}), Error);  // unknown input
  m.build();
  EXPECT_THROW(m.forward(randomTensor(Shape{2, 5}, 1), false), Error);  // wrong input shape
  EXPECT_THROW(m.forward(randomTensor(Shape{2, 4}, 1, DType::Float64), false), Error);  // wrong dtype
}

// ---- learning -------------------------------------------------------------------------

// Two Gaussian blobs per class in `dims` dimensions; labels 0/1.
void blobs(std::int64_t n, std::int64_t dims, std::uint64_t seed, Tensor& x, Tensor& y) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0, 0.6f);
  x = Tensor::empty(Shape{n, dims});
  y = Tensor::empty(Shape{n});
  for (std::int64_t i = 0; i < n; ++i) {
    int label = static_cast<int>(i % 2);
    y.span<float>()[i] = static_cast<float>(label);
    for (std::int64_t d = 0; d < dims; ++d)
      x.span<float>()[i * dims + d] = noise(rng) + (label ? 1.0f : -1.0f) * (d % 3 == 0 ? 1.0f : 0.2f);
  }
}

double accuracy(const Tensor& logits, const Tensor& labels) {
  std::int64_t correct = 0, n = logits.dim(0), c = logits.dim(1);
  for (std::int64_t i = 0; i < n; ++i) {
    const float* row = logits.data<float>() + i * c;
    std::int64_t best = std::max_element(row, row + c) - row;
    correct += best == static_cast<std::int64_t>(labels.span<float>()[i]);
  }
  return static_cast<double>(correct) / n;
}

void train(Model& m, const Tensor& x, const Tensor& y, int epochs, std::int64_t batch, double lr) {
  optim::Sgd sgd(optim::SgdOptions{0.9});
  sgd.attach(m.parameters(), m.gradients(), m.trainableRanges());
  for (int e = 0; e < epochs; ++e)
    for (std::int64_t s = 0; s + batch <= x.dim(0); s += batch) {
      Tensor logits = m.forward(x.slice(s, s + batch), true);
      ops::LossResult l = ops::loss(ops::LossKind::SoftmaxCrossEntropy, logits, y.slice(s, s + batch));
      m.zeroGrad();
      m.backward(l.grad);
      sgd.step(lr);
    }
}

TEST(Learning, MlpSeparatesBlobs) {
  Tensor x, y, xt, yt;
  blobs(1024, 10, 1, x, y);
  blobs(512, 10, 2, xt, yt);
  Model m;
  m.addInput("x", Shape{10});
  m.add(std::make_unique<Dense>("h", DenseOptions{16, ops::Activation::Relu}));
  m.add(std::make_unique<Dense>("out", DenseOptions{2}));
  m.build(DType::Float32, 42);
  EXPECT_LT(accuracy(m.forward(xt, false), yt), 0.9);
  train(m, x, y, 5, 32, 0.05);
  EXPECT_GT(accuracy(m.forward(xt, false), yt), 0.95);
}

TEST(Learning, CnnFindsABrightBar) {
  // Class 1 images carry a vertical bright bar at a random column, class 0 a horizontal one.
  auto images = [](std::int64_t n, std::uint64_t seed, Tensor& x, Tensor& y) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> noise(0, 0.3f);
    std::uniform_int_distribution<int> pos(1, 10);
    x = Tensor::empty(Shape{n, 1, 12, 12});
    y = Tensor::empty(Shape{n});
    for (std::int64_t i = 0; i < n; ++i) {
      int label = static_cast<int>(i % 2), p = pos(rng);
      y.span<float>()[i] = static_cast<float>(label);
      float* img = x.data<float>() + i * 144;
      for (int r = 0; r < 12; ++r)
        for (int c = 0; c < 12; ++c) img[r * 12 + c] = noise(rng) + ((label ? c : r) == p ? 1.0f : 0.0f);
    }
  };
  Tensor x, y, xt, yt;
  images(1024, 1, x, y);
  images(256, 2, xt, yt);
  Model m;
  m.addInput("image", Shape{1, 12, 12});
  m.add(std::make_unique<Conv>("c1", ConvOptions{.filters = 8, .kernel = {3}, .samePadding = true, .activation = ops::Activation::Relu}));
  m.add(std::make_unique<Pool>("p1", PoolOptions{.window = {2}}));
  m.add(std::make_unique<Conv>("c2", ConvOptions{.filters = 8, .kernel = {3}, .samePadding = true, .activation = ops::Activation::Relu}));
  m.add(std::make_unique<Pool>("p2", PoolOptions{.window = {2}}));
  m.add(std::make_unique<Reshape>("flat", std::vector<std::int64_t>{}));
  m.add(std::make_unique<Dense>("out", DenseOptions{2}));
  m.build(DType::Float32, 7);
  train(m, x, y, 4, 32, 0.02);
  EXPECT_GT(accuracy(m.forward(xt, false), yt), 0.95);
}

}  // namespace
}  // namespace kaon::nn
