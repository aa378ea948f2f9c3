#include "test_util.hpp"

#include <cmath>

#include "kaon/nn/model.hpp"

namespace kaon::testing {

Tensor randomTensor(const Shape& shape, std::uint64_t seed, DType dtype, double lo, double hi) {
  Tensor t = Tensor::empty(shape, dtype);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  dispatchFloat(dtype, [&](auto tag) {
    for (auto& v : t.span<decltype(tag)>()) v = static_cast<decltype(tag)>(d(rng));
  });
  return t;
}

double normalisedError(const Tensor& a, const Tensor& b) {
  Tensor x = a.cast(DType::Float64), y = b.cast(DType::Float64);
  auto xs = x.span<double>(), ys = y.span<double>();
  double maxDiff = 0, maxRef = 1e-12;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    maxDiff = std::max(maxDiff, std::abs(xs[i] - ys[i]));
    maxRef = std::max(maxRef, std::abs(ys[i]));
    if (std::isnan(xs[i]) != std::isnan(ys[i])) return INFINITY;
  }
  return maxDiff / maxRef;
}

::testing::AssertionResult tensorsClose(const Tensor& a, const Tensor& b, double tolerance) {
  if (a.shape() != b.shape())
    return ::testing::AssertionFailure() << "shapes differ: " << a.shape().str() << " vs " << b.shape().str();
  double e = normalisedError(a, b);
  if (e <= tolerance) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "normalised error " << e << " > " << tolerance;
}

namespace {
double dot(const Tensor& a, const Tensor& b) {
  double s = 0;
  auto x = a.span<double>(), y = b.span<double>();
  for (std::size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
  return s;
}

double relativeError(double analytic, double numeric) {
  return std::abs(analytic - numeric) / std::max({1.0, std::abs(analytic), std::abs(numeric)});
}
}  // namespace

double maxGradientError(const ForwardFn& forward, const BackwardFn& backward, std::vector<Tensor> inputs, double eps,
                        std::uint64_t seed) {
  Tensor y = forward(inputs);
  Tensor r = randomTensor(y.shape(), seed, DType::Float64);
  std::vector<Tensor> grads = backward(inputs, r);
  double worst = 0;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    if (k >= grads.size() || !grads[k].defined()) continue;
    EXPECT_EQ(grads[k].shape(), inputs[k].shape()) << "gradient " << k;
    auto x = inputs[k].span<double>();
    auto g = grads[k].span<double>();
    for (std::size_t i = 0; i < x.size(); ++i) {
      double saved = x[i];
      x[i] = saved + eps;
      double up = dot(forward(inputs), r);
      x[i] = saved - eps;
      double down = dot(forward(inputs), r);
      x[i] = saved;
      worst = std::max(worst, relativeError(g[i], (up - down) / (2 * eps)));
    }
  }
  return worst;
}

double maxLayerGradientError(std::unique_ptr<nn::Layer> layer, const std::vector<Shape>& perSampleInputs,
                             std::int64_t batch, bool training, std::uint64_t seed) {
  nn::Model model;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < perSampleInputs.size(); ++i) {
    names.push_back("in" + std::to_string(i));
    model.addInput(names.back(), perSampleInputs[i]);
  }
  model.add(std::move(layer), names);
  model.build(DType::Float64, seed);
  // Perturb zero-initialised parameters (biases) so their gradients are exercised off zero.
  {
    Tensor p = model.parameters();
    Tensor noise = randomTensor(p.shape(), seed + 1, DType::Float64, -0.1, 0.1);
    for (std::int64_t i = 0; i < p.numel(); ++i) p.span<double>()[i] += noise.span<double>()[i];
  }
  std::vector<Tensor> inputs;
  for (std::size_t i = 0; i < perSampleInputs.size(); ++i)
    inputs.push_back(randomTensor(perSampleInputs[i].prepend(batch), seed + 10 + i, DType::Float64));
  // Every evaluation replays the same forward step so stochastic layers draw the same mask.
  std::uint64_t step = model.forwardStep();
  auto run = [&](const std::vector<Tensor>& in) {
    model.setForwardStep(step);
    return model.forwardMulti(in, training).at(0);
  };
  Tensor y = run(inputs);
  Tensor r = randomTensor(y.shape(), seed + 99, DType::Float64);
  model.zeroGrad();
  std::vector<Tensor> inputGrads = model.backwardMulti({r}, nn::BackwardOptions{true, true});
  double worst = 0;
  const double eps = 1e-6;
  auto probe = [&](std::span<double> x, std::span<const double> analytic) {
    for (std::size_t i = 0; i < x.size(); ++i) {
      double saved = x[i];
      x[i] = saved + eps;
      double up = dot(run(inputs), r);
      x[i] = saved - eps;
      double down = dot(run(inputs), r);
      x[i] = saved;
      worst = std::max(worst, relativeError(analytic[i], (up - down) / (2 * eps)));
    }
  };
  Tensor grads = model.gradients().clone();
  probe(model.parameters().span<double>(), grads.span<double>());
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    EXPECT_TRUE(inputGrads.at(k).defined()) << "no gradient for input " << k;
    if (inputGrads[k].defined()) probe(inputs[k].span<double>(), inputGrads[k].span<double>());
  }
  return worst;
}

std::shared_ptr<data::InMemoryDataset> blobImages(std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0, 0.3f);
  std::uniform_int_distribution<int> row(0, 6), col(0, 2);
  Tensor x = Tensor::empty(Shape{n, 1, 8, 8}), y = Tensor::empty(Shape{n});
  for (std::int64_t i = 0; i < n; ++i) {
    int label = static_cast<int>(i % 2), r = row(rng), c = col(rng) + (label ? 5 : 0);
    float* img = x.data<float>() + i * 64;
    for (int k = 0; k < 64; ++k) img[k] = noise(rng);
    for (int dr = 0; dr < 2; ++dr)
      for (int dc = 0; dc < 2 && c + dc < 8; ++dc) img[(r + dr) * 8 + c + dc] += 1.5f;
    y.span<float>()[i] = static_cast<float>(label);
  }
  return std::make_shared<data::InMemoryDataset>(std::vector<Tensor>{x}, std::vector<Tensor>{y});
}

}  // namespace kaon::testing
