#pragma once
// Fused optimizer updates over flat parameter buffers. The optim/ classes own the state and
// the schedule; these ops apply one step, on whichever device the buffers live.
#include "kaon/core/tensor.hpp"

namespace kaon::ops {

struct SgdStepArgs {
  double lr = 0.01, momentum = 0.0, weightDecay = 0.0;  // weight decay added to the gradient (L2)
  bool nesterov = false;
};
// Adam, bias-corrected, torch.optim.Adam/AdamW semantics (t = step):
//   g = grad + wd*p (L2, !decoupled)  |  p = p*(1 - lr*wd) (decoupled, AdamW)
//   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2
//   p = p - lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)
// eps defaults to Keras' 1e-7; PyTorch uses 1e-8 (set it to compare runs bit for bit).
struct AdamStepArgs {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-7, weightDecay = 0.0;
  bool decoupled = false;  // AdamW: decay the weights directly instead of adding to the gradient
  long long step = 1;      // 1-based, for bias correction
};
// RMSprop, torch.optim.RMSprop semantics (non-centred; rho is PyTorch's `alpha`):
//   g = grad + wd*p;  sq = rho*sq + (1-rho)*g^2;  u = g/(sqrt(sq) + eps)
//   momentum > 0: buf = momentum*buf + u; p = p - lr*buf   else: p = p - lr*u
struct RmspropStepArgs {
  double lr = 1e-3, rho = 0.9, eps = 1e-7, momentum = 0.0, weightDecay = 0.0;
};

void sgdStep(const SgdStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& velocity);
// All buffers flat and alike (dtype, device, size); updated in place. m, v (Adam) and
// meanSquare (RMSprop) are required; velocity only when momentum != 0.
void adamStep(const AdamStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v);
void rmspropStep(const RmspropStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& meanSquare,
                 const Tensor& velocity);

}  // namespace kaon::ops
