#include "kaon/nn/layers/sum.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "kaon/ops/reduce.hpp"

namespace kaon::nn {

Sum::Sum(std::string name, std::vector<int> axes) : Layer(std::move(name)), axes_(std::move(axes)) {}

Shape Sum::build(const std::vector<Shape>& in) {
  setInputShapes(in);
  const int rank = in[0].rank() + 1;  // with the batch axis
  std::vector<int> axes = axes_;
  if (axes.empty())
    for (int a = 1; a < rank; ++a) axes.push_back(a);
  for (int& a : axes) {
    if (a < 0) a += rank;
    KAON_CHECK(a >= 1 && a < rank, "sum layer '{}': axis {} is not a per-sample axis of [N, {}] (batch = 0 cannot "
               "be summed)", name(), a, fmt::join(in[0].dims(), ", "));
  }
  std::sort(axes.begin(), axes.end());
  for (std::size_t k = 1; k < axes.size(); ++k)
    KAON_CHECK(axes[k] == axes[k - 1] + 1, "sum layer '{}': axes {} must be a contiguous range", name(),
               fmt::join(axes, ", "));
  first_ = axes.front();
  last_ = axes.back();
  std::vector<std::int64_t> dims;
  for (int a = 1; a < rank; ++a)
    if (a < first_ || a > last_) dims.push_back(in[0][a - 1]);
  if (dims.empty()) dims.push_back(1);
  return out_ = Shape(dims);
}

Tensor Sum::forward(const std::vector<Tensor>& inputs, const ForwardContext&) {
  checkInputs(inputs);
  return ops::sumAxes(inputs[0], first_, last_).reshape(out_.prepend(inputs[0].dim(0)));
}

std::vector<Tensor> Sum::backward(const Tensor& dy, const BackwardContext& ctx) {
  if (!ctx.needInputGrad[0]) return {Tensor()};
  const Shape x = inputShapes()[0].prepend(dy.dim(0));
  std::vector<std::int64_t> reduced;
  for (int a = 0; a < x.rank(); ++a)
    if (a < first_ || a > last_) reduced.push_back(x[a]);
  return {ops::sumAxesBackward(dy.reshape(Shape(reduced)), x, first_, last_)};
}

std::string Sum::describe() const { return fmt::format("axes {}..{}", first_, last_); }

}  // namespace kaon::nn
