#include "kaon/nn/layers/concat.hpp"

#include <fmt/format.h>

#include "kaon/ops/concat.hpp"

namespace kaon::nn {

int resolveFeatureAxis(int axis, int perSampleRank, std::string_view layerType) {
  const int full = perSampleRank + 1;  // with the batch axis
  int a = axis < 0 ? axis + full : axis;
  KAON_CHECK(a != 0, "{}: axis {} is the batch axis (axes count the batch as 0; channels are 1)", layerType, axis);
  KAON_CHECK(a >= 1 && a < full, "{}: axis {} is out of range for inputs [N] + {} axes", layerType, axis,
             perSampleRank);
  return a;
}

Concat::Concat(std::string name, int axis) : Layer(std::move(name)), axis_(axis) {}

Shape Concat::build(const std::vector<Shape>& in) {
  fullAxis_ = resolveFeatureAxis(axis_, in[0].rank(), type());
  const int a = fullAxis_ - 1;  // per-sample axis
  std::int64_t total = 0;
  for (const Shape& s : in) {
    KAON_CHECK(s.rank() == in[0].rank() && s.withDim(a, in[0][a]) == in[0],
               "concat along axis {}: per-sample shapes {} and {} differ off that axis", fullAxis_, in[0].str(), s.str());
    total += s[a];
  }
  setInputShapes(in);
  return in[0].withDim(a, total);
}

Tensor Concat::forward(const std::vector<Tensor>& inputs, const ForwardContext&) {
  checkInputs(inputs);
  return ops::concat(inputs, fullAxis_);
}

std::vector<Tensor> Concat::backward(const Tensor& dy, const BackwardContext& ctx) {
  std::vector<std::int64_t> sizes;
  for (const Shape& s : inputShapes()) sizes.push_back(s[fullAxis_ - 1]);
  return ops::split(dy, sizes, fullAxis_, ctx.needInputGrad);
}

std::string Concat::describe() const { return fmt::format("axis {}", fullAxis_); }

}  // namespace kaon::nn
