// Builds a tiny CNN through the installed public headers, trains one step and checks the
// loss went down; exit code 0 means the package works.
#include <cstdio>

#include "kaon/nn/layers/conv.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/reshape.hpp"
#include "kaon/nn/model.hpp"
#include "kaon/ops/loss.hpp"
#include "kaon/optim/optimizer.hpp"

int main() {
  using namespace kaon;
  nn::Model m;
  m.addInput("x", Shape{1, 6, 6});
  m.add(std::make_unique<nn::Conv>("conv", nn::ConvOptions{.filters = 2, .kernel = {3}}));
  m.add(std::make_unique<nn::Reshape>("flat", std::vector<std::int64_t>{}));
  m.add(std::make_unique<nn::Dense>("out", nn::DenseOptions{.units = 2}));
  m.build(DType::Float32, 1);
  Tensor x = Tensor::full(Shape{4, 1, 6, 6}, 0.5);
  Tensor y = Tensor::fromVector<float>(Shape{4}, {0, 1, 0, 1});
  optim::Sgd sgd;
  sgd.attach(m.parameters(), m.gradients(), m.trainableRanges());
  double first = 0, last = 0;
  for (int step = 0; step < 20; ++step) {
    ops::LossResult l = ops::loss(ops::LossKind::SoftmaxCrossEntropy, m.forward(x, true), y);
    if (step == 0) first = l.value;
    last = l.value;
    m.zeroGrad();
    m.backward(l.grad);
    sgd.step(0.1);
  }
  std::printf("consumer: %lld parameters, loss %.4f -> %.4f\n", static_cast<long long>(m.parameterCount()), first, last);
  return last <= first ? 0 : 1;
}
