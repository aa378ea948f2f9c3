#pragma once
// Fused optimizer updates over flat parameter buffers. The optim/ classes own the state and
// the schedule; these ops apply one step, on whichever device the buffers live.
#include "kaon/core/tensor.hpp"

namespace kaon::ops {

struct SgdStepArgs {
  double lr = 0.01, momentum = 0.0, weightDecay = 0.0;  // weight decay added to the gradient (L2)
  bool nesterov = false;
};
struct AdamStepArgs {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-7, weightDecay = 0.0;
  bool decoupled = false;  // AdamW: decay the weights directly instead of adding to the gradient
  long long step = 1;      // 1-based, for bias correction
};
struct RmspropStepArgs {
  double lr = 1e-3, rho = 0.9, eps = 1e-7, momentum = 0.0, weightDecay = 0.0;
};

void sgdStep(const SgdStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& velocity);
void adamStep(const AdamStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v);
void rmspropStep(const RmspropStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& meanSquare,
                 const Tensor& velocity);

}  // namespace kaon::ops
