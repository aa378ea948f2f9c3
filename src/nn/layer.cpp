#include "kaon/nn/layer.hpp"

namespace kaon::nn {

Parameter& Layer::parameter(std::string_view name) {
  for (auto& p : params_)
    if (p.name == name) return p;
  KAON_FAIL("layer '{}' has no parameter '{}'", name_, name);
}

std::int64_t Layer::parameterCount() const {
  std::int64_t n = 0;
  for (const auto& p : params_) n += p.shape.numel();
  return n;
}

Parameter& Layer::addParameter(std::string name, Shape shape, Init init) {
  for (const auto& p : params_) KAON_CHECK(p.name != name, "layer '{}' declares parameter '{}' twice", name_, name);
  params_.push_back(Parameter{std::move(name), shape, init, {}, {}, 0});
  return params_.back();
}

Buffer& Layer::addBuffer(std::string name, Shape shape, Init init) {
  buffers_.push_back(Buffer{std::move(name), shape, init, {}, 0});
  return buffers_.back();
}

void Layer::checkInputs(const std::vector<Tensor>& inputs) const {
  KAON_CHECK(static_cast<int>(inputs.size()) >= minInputs() && static_cast<int>(inputs.size()) <= maxInputs(),
             "layer '{}' ({}) got {} inputs", name_, type(), inputs.size());
  KAON_CHECK(inputs.size() == inputShapes_.size(), "layer '{}' was built for {} inputs, got {}", name_,
             inputShapes_.size(), inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    KAON_CHECK(x.defined() && x.rank() == inputShapes_[i].rank() + 1 && x.shape().dropFirst() == inputShapes_[i],
               "layer '{}' ({}) input {} has shape {}, expected [N, ...] with per-sample shape {}", name_, type(), i,
               x.defined() ? x.shape().str() : "undefined", inputShapes_[i].str());
  }
}

}  // namespace kaon::nn
