// Fused Adam/AdamW and RMSprop steps on the CPU: one pass over the flat buffers in the
// parameter's precision, vectorised by GCC and split across threads for large buffers.
// The math is exactly the reference kernels' (see reference_optimizer.cpp for the formulas);
// only scalars that are constant over the buffer (bias corrections, 1 - beta) are folded in
// double first. (SGD's CPU step lives in cpu_pointwise.cpp.)
#include <cmath>

#include "cpu_kernels.hpp"

namespace kaon::ops::cpu {
namespace {

constexpr std::int64_t kParallelThreshold = 1 << 15;

template <class F>
void forEach(std::int64_t n, F&& f) {
#pragma omp parallel for simd schedule(static) if (n > kParallelThreshold)
  for (std::int64_t i = 0; i < n; ++i) f(i);
}

}  // namespace

void adamStep(const AdamStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v) {
  const double t = static_cast<double>(a.step);
  const double bc1 = 1.0 - std::pow(a.beta1, t), bc2 = 1.0 - std::pow(a.beta2, t);
  dispatchFloat(param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* P = param.data<T>();
    const T* G = grad.data<T>();
    T* M = m.data<T>();
    T* V = v.data<T>();
    const T b1 = static_cast<T>(a.beta1), b2 = static_cast<T>(a.beta2);
    const T omb1 = static_cast<T>(1.0 - a.beta1), omb2 = static_cast<T>(1.0 - a.beta2);
    // lr * m_hat / (sqrt(v_hat) + eps) == stepSize * m / (sqrt(v) * invSqrtBc2 + eps)
    const T stepSize = static_cast<T>(a.lr / bc1), invSqrtBc2 = static_cast<T>(1.0 / std::sqrt(bc2));
    const T eps = static_cast<T>(a.eps);
    const T l2 = static_cast<T>(a.decoupled ? 0.0 : a.weightDecay);
    const T keep = static_cast<T>(a.decoupled ? 1.0 - a.lr * a.weightDecay : 1.0);
    forEach(param.numel(), [&](auto i) {
      const T p = P[i];
      const T g = G[i] + l2 * p;
      const T mi = b1 * M[i] + omb1 * g;
      const T vi = b2 * V[i] + omb2 * g * g;
      M[i] = mi;
      V[i] = vi;
      P[i] = keep * p - stepSize * mi / (std::sqrt(vi) * invSqrtBc2 + eps);
    });
  });
}

void rmspropStep(const RmspropStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& meanSquare,
                 const Tensor& velocity) {
  dispatchFloat(param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* P = param.data<T>();
    const T* G = grad.data<T>();
    T* S = meanSquare.data<T>();
    const T rho = static_cast<T>(a.rho), omr = static_cast<T>(1.0 - a.rho);
    const T lr = static_cast<T>(a.lr), eps = static_cast<T>(a.eps), wd = static_cast<T>(a.weightDecay);
    if (a.momentum == 0.0) {
      forEach(param.numel(), [&](auto i) {
        const T g = G[i] + wd * P[i];
        const T sq = rho * S[i] + omr * g * g;
        S[i] = sq;
        P[i] -= lr * g / (std::sqrt(sq) + eps);
      });
      return;
    }
    T* B = velocity.data<T>();
    const T mu = static_cast<T>(a.momentum);
    forEach(param.numel(), [&](auto i) {
      const T g = G[i] + wd * P[i];
      const T sq = rho * S[i] + omr * g * g;
      S[i] = sq;
      const T buf = mu * B[i] + g / (std::sqrt(sq) + eps);
      B[i] = buf;
      P[i] -= lr * buf;
    });
  });
}

}  // namespace kaon::ops::cpu
