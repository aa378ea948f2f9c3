#include "kaon/nn/layers/add.hpp"

#include "kaon/ops/elementwise.hpp"

namespace kaon::nn {

Shape Add::build(const std::vector<Shape>& in) {
  for (const auto& s : in)
    KAON_CHECK(s == in[0], "add: input shapes differ ({} and {})", in[0].str(), s.str());
  setInputShapes(in);
  return in[0];
}

Tensor Add::forward(const std::vector<Tensor>& inputs, const ForwardContext&) {
  checkInputs(inputs);
  Tensor y = ops::add(inputs[0], inputs[1]);
  for (std::size_t i = 2; i < inputs.size(); ++i) ops::addInPlace(y, inputs[i]);
  return y;
}

std::vector<Tensor> Add::backward(const Tensor& dy, const BackwardContext& ctx) {
  // The same gradient flows to every input; the model copies before accumulating into it.
  std::vector<Tensor> dx;
  for (bool need : ctx.needInputGrad) dx.push_back(need ? dy : Tensor());
  return dx;
}

}  // namespace kaon::nn
