#pragma once
// Batch normalisation over all axes but the channel axis: per-sample input [C], [C, L], [C, H, W]
// or [C, D, H, W]; the output has the input's shape. Parameters gamma [C] (scale, ones) and beta
// [C] (center, zeros); buffers running_mean [C] (zeros) and running_var [C] (ones).
// Training forwards normalise with the batch statistics and update the running ones (Keras
// momentum convention: running = momentum * running + (1 - momentum) * batch, unbiased variance);
// eval forwards use the running statistics. Backward follows the mode of the last forward.
// Synchronised (ForwardContext::replicas set, options.sync): the training statistics are sums
// over all replicas (one allreduce of [2C + 1] in forward, one of [2, C] in backward), so N ranks
// normalise like one rank with the whole global batch.
// Mixed-precision models (bf16/fp16) run it in fp32 (Layer::computesInFloat32): fp32 input,
// gamma/beta, running statistics and gradients; the model converts at its boundaries.
#include "kaon/nn/layer.hpp"

namespace kaon::nn {

struct BatchNormOptions {
  double momentum = 0.99;  // Keras default
  double epsilon = 1e-3;   // Keras default
  bool center = true;      // learn beta
  bool scale = true;       // learn gamma
  // Synchronised batch norm: when the model has a replica reducer (trainer.sync_batchnorm), the
  // training statistics span the global batch of all ranks. false keeps this layer's local.
  bool sync = true;
};

class BatchNorm : public Layer {
 public:
  BatchNorm(std::string name, BatchNormOptions options = {});
  std::string_view type() const override { return "batch_norm"; }
  Shape build(const std::vector<Shape>& inputShapes) override;
  Tensor forward(const std::vector<Tensor>& inputs, const ForwardContext& ctx) override;
  std::vector<Tensor> backward(const Tensor& gradOutput, const BackwardContext& ctx) override;
  void releaseSaved() override { x_ = saveMean_ = saveInvStd_ = replicaStats_ = Tensor(); }
  std::string describe() const override;
  // bf16/fp16 models: statistics of 16-bit activations in fp32, as cuDNN and PyTorch's autocast do.
  bool computesInFloat32() const override { return true; }

 private:
  BatchNormOptions options_;
  Parameter* gamma_ = nullptr;  // null unless options_.scale
  Parameter* beta_ = nullptr;   // null unless options_.center
  Buffer* runningMean_ = nullptr;
  Buffer* runningVar_ = nullptr;
  bool training_ = false;       // mode of the last forward
  Tensor x_, saveMean_, saveInvStd_;
  Tensor replicaStats_;  // defined when the last forward used statistics over replicas
};

}  // namespace kaon::nn
