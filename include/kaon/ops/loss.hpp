#pragma once
// Loss functions with per-sample weights. The reduction is the weighted mean over the batch:
// loss = sum_n w_n * l_n / N (Keras' sample_weight convention), so a weight of 1 everywhere
// gives the plain mean.
#include "kaon/core/tensor.hpp"
#include "kaon/ops/kinds.hpp"

namespace kaon::ops {

struct LossResult {
  double value = 0.0;   // reduced loss
  Tensor perSample;     // [N], unweighted l_n
  Tensor grad;          // dLoss/dpred, shaped like pred (defined when requested)
};

// pred: logits [N, C] for SoftmaxCrossEntropy (target: class indices [N] stored as floats),
// logits [N, ...] for BinaryCrossEntropyLogits (target in [0, 1], same shape), predictions
// [N, ...] for the regression losses (same shape target). weight: [N] or undefined.
LossResult loss(LossKind kind, const Tensor& pred, const Tensor& target, const Tensor& weight = {},
                bool wantGrad = true);

}  // namespace kaon::ops
