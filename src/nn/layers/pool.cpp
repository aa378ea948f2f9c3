#include "kaon/nn/layers/pool.hpp"

#include "kaon/ops/pool.hpp"

namespace kaon::nn {

Pool::Pool(std::string name, PoolOptions options) : Layer(std::move(name)), options_(std::move(options)) {
  KAON_CHECK(options_.spatialRank >= 1 && options_.spatialRank <= 3, "pool layer '{}': 1 to 3 spatial axes",
             this->name());
  KAON_CHECK(options_.window.size() == 1 || static_cast<int>(options_.window.size()) == options_.spatialRank,
             "pool layer '{}': window needs 1 or {} values", this->name(), options_.spatialRank);
  if (options_.window.size() == 1) options_.window.assign(options_.spatialRank, options_.window[0]);
  if (options_.stride.empty()) options_.stride = options_.window;
}

std::string_view Pool::type() const {
  static const char* names[2][3] = {{"max_pool1d", "max_pool2d", "max_pool3d"},
                                    {"avg_pool1d", "avg_pool2d", "avg_pool3d"}};
  return names[options_.kind == ops::PoolKind::Max ? 0 : 1][options_.spatialRank - 1];
}

Shape Pool::build(const std::vector<Shape>& in) {
  const Shape& s = in[0];
  KAON_CHECK(s.rank() == options_.spatialRank + 1, "{} expects per-sample input [C, {} spatial axes], got {}", type(),
             options_.spatialRank, s.str());
  setInputShapes(in);
  if (options_.samePadding) {
    std::vector<std::int64_t> spatial(s.dims().begin() + 1, s.dims().end());
    std::vector<std::int64_t> window(options_.window.begin(), options_.window.end());
    params_ = ops::samePadding(spatial, window, options_.stride);
  } else {
    params_ = ops::ConvParams{options_.stride, {}, options_.padBegin, options_.padEnd};
  }
  return ops::poolGeometry(s.prepend(1), options_.window, params_).outputShape().dropFirst();
}

Tensor Pool::forward(const std::vector<Tensor>& inputs, const ForwardContext&) {
  checkInputs(inputs);
  xShape_ = inputs[0].shape();
  ops::PoolResult r = ops::pool(options_.kind, inputs[0], options_.window, params_, options_.includePad);
  argmax_ = r.argmax;
  return r.y;
}

std::vector<Tensor> Pool::backward(const Tensor& dy, const BackwardContext& ctx) {
  if (!ctx.needInputGrad[0]) return {Tensor()};
  return {ops::poolBackward(options_.kind, dy, argmax_, xShape_, options_.window, params_, options_.includePad)};
}

}  // namespace kaon::nn
