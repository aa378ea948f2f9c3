#pragma once
// Max / average pooling over 1, 2 or 3 spatial axes.
#include "kaon/nn/layer.hpp"
#include "kaon/ops/conv_params.hpp"
#include "kaon/ops/kinds.hpp"

namespace kaon::nn {

struct PoolOptions {
  int spatialRank = 2;
  ops::PoolKind kind = ops::PoolKind::Max;
  std::vector<int> window;  // per axis or one for all
  std::vector<int> stride;  // default: the window
  bool samePadding = false;
  std::vector<int> padBegin, padEnd;
  bool includePad = false;  // average pooling: divide by the whole window
};

class Pool : public Layer {
 public:
  Pool(std::string name, PoolOptions options);
  std::string_view type() const override;
  Shape build(const std::vector<Shape>& inputShapes) override;
  Tensor forward(const std::vector<Tensor>& inputs, const ForwardContext& ctx) override;
  std::vector<Tensor> backward(const Tensor& gradOutput, const BackwardContext& ctx) override;
  void releaseSaved() override { argmax_ = Tensor(); }

 private:
  PoolOptions options_;
  ops::ConvParams params_;
  Shape xShape_;
  Tensor argmax_;
};

}  // namespace kaon::nn
