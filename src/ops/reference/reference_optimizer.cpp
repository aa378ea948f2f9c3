// Reference Adam/AdamW and RMSprop steps: the textbook formulas, one element at a time, in
// double, so the CPU (and later CUDA) kernels have an oracle that reads like the papers.
// (SGD's reference step lives in reference_pointwise.cpp.)
#include <cmath>

#include "reference_kernels.hpp"

namespace kaon::ops::reference {

// Adam (Kingma & Ba 2015, Algorithm 1) with PyTorch's eps placement, t = a.step (1-based):
//   g     = grad + wd * p                     (only when !decoupled: L2 as in torch.optim.Adam)
//   p     = p * (1 - lr * wd)                 (only when decoupled: AdamW, Loshchilov & Hutter
//                                              as implemented by torch.optim.AdamW: decay scaled by lr)
//   m     = beta1 * m + (1 - beta1) * g
//   v     = beta2 * v + (1 - beta2) * g^2
//   m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)
//   p     = p - lr * m_hat / (sqrt(v_hat) + eps)
void adamStep(const AdamStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v) {
  const double t = static_cast<double>(a.step);
  const double bc1 = 1.0 - std::pow(a.beta1, t), bc2 = 1.0 - std::pow(a.beta2, t);
  dispatchFloat(param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto P = param.span<T>();
    auto G = grad.span<T>();
    auto M = m.span<T>();
    auto V = v.span<T>();
    for (std::size_t i = 0; i < P.size(); ++i) {
      double p = P[i];
      double g = G[i];
      if (a.decoupled) p *= 1.0 - a.lr * a.weightDecay;
      else g += a.weightDecay * p;
      double mi = a.beta1 * M[i] + (1.0 - a.beta1) * g;
      double vi = a.beta2 * V[i] + (1.0 - a.beta2) * g * g;
      double mHat = mi / bc1, vHat = vi / bc2;
      M[i] = static_cast<T>(mi);
      V[i] = static_cast<T>(vi);
      P[i] = static_cast<T>(p - a.lr * mHat / (std::sqrt(vHat) + a.eps));
    }
  });
}

// RMSprop as torch.optim.RMSprop (non-centred; Hinton's lecture 6e plus PyTorch's momentum):
//   g   = grad + wd * p
//   sq  = rho * sq + (1 - rho) * g^2
//   u   = g / (sqrt(sq) + eps)               (eps outside the root, as PyTorch and Keras 3)
//   buf = momentum * buf + u;  p = p - lr * buf   (momentum > 0)
//   p   = p - lr * u                              (momentum == 0; velocity may be undefined)
void rmspropStep(const RmspropStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& meanSquare,
                 const Tensor& velocity) {
  dispatchFloat(param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto P = param.span<T>();
    auto G = grad.span<T>();
    auto S = meanSquare.span<T>();
    for (std::size_t i = 0; i < P.size(); ++i) {
      double p = P[i];
      double g = G[i] + a.weightDecay * p;
      double sq = a.rho * S[i] + (1.0 - a.rho) * g * g;
      S[i] = static_cast<T>(sq);
      double u = g / (std::sqrt(sq) + a.eps);
      if (a.momentum != 0.0) {
        auto B = velocity.span<T>();
        double buf = a.momentum * B[i] + u;
        B[i] = static_cast<T>(buf);
        u = buf;
      }
      P[i] = static_cast<T>(p - a.lr * u);
    }
  });
}

}  // namespace kaon::ops::reference
