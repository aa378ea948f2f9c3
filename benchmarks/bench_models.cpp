#include "bench_models.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <random>

#include "kaon/nn/layers/add.hpp"
#include "kaon/nn/layers/conv.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/pool.hpp"
#include "kaon/nn/layers/reshape.hpp"
#include "kaon/nn/layers/slice.hpp"

namespace kaon::bench {
namespace {

double convFlops(std::int64_t n, std::int64_t c, std::int64_t oc, std::int64_t k, std::int64_t p) {
  return 2.0 * n * oc * c * k * p;
}

Tensor randomTensor(const Shape& s, std::uint64_t seed) {
  Tensor t = Tensor::empty(s);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  for (float& v : t.span<float>()) v = d(rng);
  return t;
}

nn::ConvOptions conv2d(std::int64_t filters, int k, ops::Activation act) {
  return nn::ConvOptions{.spatialRank = 2, .filters = filters, .kernel = {k}, .samePadding = true, .activation = act};
}

}  // namespace

ModelBench jetModel(std::int64_t batch, Device device) {
  ModelBench b;
  b.model.addInput("x", Shape{3, 64, 64});
  for (int i = 1; i <= 3; ++i) {
    b.model.add(std::make_unique<nn::Conv>(fmt::format("conv{}", i), conv2d(128, 3, ops::Activation::Relu)));
    b.model.add(std::make_unique<nn::Pool>(fmt::format("pool{}", i), nn::PoolOptions{.window = {2}}));
  }
  b.model.add(std::make_unique<nn::Reshape>("flatten", std::vector<std::int64_t>{}));
  b.model.add(std::make_unique<nn::Dense>("fc1", nn::DenseOptions{512, ops::Activation::Relu}));
  b.model.add(std::make_unique<nn::Dense>("fc2", nn::DenseOptions{2}));
  b.model.build(DType::Float32, 1, device);
  b.x = randomTensor(Shape{batch, 3, 64, 64}, 2);
  b.y = Tensor::empty(Shape{batch});
  for (std::int64_t i = 0; i < batch; ++i) b.y.span<float>()[i] = static_cast<float>(i % 2);
  b.loss = ops::LossKind::SoftmaxCrossEntropy;
  double f0 = convFlops(batch, 3, 128, 9, 64 * 64), f1 = convFlops(batch, 128, 128, 9, 32 * 32),
         f2 = convFlops(batch, 128, 128, 9, 16 * 16), f3 = 2.0 * batch * 8192 * 512, f4 = 2.0 * batch * 512 * 2;
  b.flops = 2 * f0 + 3 * (f1 + f2 + f3 + f4);
  return b;
}

ModelBench srcnnModel(std::int64_t batch, bool residual, Device device) {
  ModelBench b;
  b.model.addInput("x", Shape{2, 64, 64});
  b.model.add(std::make_unique<nn::Conv>("conv1", conv2d(64, 9, ops::Activation::Relu)), {"x"});
  b.model.add(std::make_unique<nn::Conv>("conv2", conv2d(32, 3, ops::Activation::Relu)));
  b.model.add(std::make_unique<nn::Conv>("conv3", conv2d(1, 5, ops::Activation::Identity)));
  if (residual) {
    b.model.add(std::make_unique<nn::Slice>("coarse", 1, 0, 1), {"x"});
    b.model.add(std::make_unique<nn::Add>("field"), {"conv3", "coarse"});
  }
  b.model.build(DType::Float32, 1, device);
  b.x = randomTensor(Shape{batch, 2, 64, 64}, 2);
  b.y = randomTensor(Shape{batch, 1, 64, 64}, 3);
  b.loss = ops::LossKind::MeanSquaredError;
  const std::int64_t p = 64 * 64;
  b.flops = 2 * convFlops(batch, 2, 64, 81, p) + 3 * (convFlops(batch, 64, 32, 9, p) + convFlops(batch, 32, 1, 25, p));
  b.note = residual ? "with residual" : "no residual add";
  return b;
}

double processCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

}  // namespace kaon::bench
