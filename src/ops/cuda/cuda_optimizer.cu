// Fused optimizer steps over flat buffers: one pass reads param, grad and state once and writes
// param and state (formulas in kaon/ops/optimizer_steps.hpp; arithmetic in double as the CPU).
#include "cuda_common.cuh"
#include "cuda_launch.hpp"

namespace kaon::ops::cuda {
namespace {

template <class T>
__global__ void sgdKernel(double lr, double momentum, double wd, bool nesterov, T* P, const T* G, T* V, std::int64_t n) {
  KAON_GRID_STRIDE(i, n) {
    double g = static_cast<double>(G[i]) + wd * static_cast<double>(P[i]);
    if (momentum != 0.0) {
      double v = momentum * static_cast<double>(V[i]) + g;
      V[i] = static_cast<T>(v);
      g = nesterov ? g + momentum * v : v;
    }
    P[i] = static_cast<T>(P[i] - lr * g);
  }
}

template <class T>
__global__ void adamKernel(double lr, double b1, double b2, double eps, double wd, bool decoupled, double bc1,
                           double bc2, T* P, const T* G, T* M, T* V, std::int64_t n) {
  KAON_GRID_STRIDE(i, n) {
    double p = P[i], g = G[i];
    if (decoupled) p *= 1.0 - lr * wd;
    else g += wd * p;
    double m = b1 * M[i] + (1.0 - b1) * g;
    double v = b2 * V[i] + (1.0 - b2) * g * g;
    M[i] = static_cast<T>(m);
    V[i] = static_cast<T>(v);
    P[i] = static_cast<T>(p - lr * (m / bc1) / (sqrt(v / bc2) + eps));
  }
}

template <class T>
__global__ void rmspropKernel(double lr, double rho, double eps, double momentum, double wd, T* P, const T* G, T* S,
                              T* B, std::int64_t n) {
  KAON_GRID_STRIDE(i, n) {
    double p = P[i];
    double g = G[i] + wd * p;
    double sq = rho * S[i] + (1.0 - rho) * g * g;
    S[i] = static_cast<T>(sq);
    double u = g / (sqrt(sq) + eps);
    if (momentum != 0.0) {
      double buf = momentum * B[i] + u;
      B[i] = static_cast<T>(buf);
      u = buf;
    }
    P[i] = static_cast<T>(p - lr * u);
  }
}

}  // namespace

template <class T>
void sgdStep(double lr, double momentum, double weightDecay, bool nesterov, T* p, const T* g, T* v, i64 n,
             cudaStream_t s) {
  if (n > 0) sgdKernel<<<gridFor(n), kThreads, 0, s>>>(lr, momentum, weightDecay, nesterov, p, g, v, n);
}
template <class T>
void adamStep(double lr, double beta1, double beta2, double eps, double weightDecay, bool decoupled, double bc1,
              double bc2, T* p, const T* g, T* m, T* v, i64 n, cudaStream_t s) {
  if (n > 0)
    adamKernel<<<gridFor(n), kThreads, 0, s>>>(lr, beta1, beta2, eps, weightDecay, decoupled, bc1, bc2, p, g, m, v, n);
}
template <class T>
void rmspropStep(double lr, double rho, double eps, double momentum, double weightDecay, T* p, const T* g, T* sq,
                 T* buf, i64 n, cudaStream_t s) {
  if (n > 0) rmspropKernel<<<gridFor(n), kThreads, 0, s>>>(lr, rho, eps, momentum, weightDecay, p, g, sq, buf, n);
}

#define KAON_INSTANTIATE(T)                                                                                     \
  template void sgdStep<T>(double, double, double, bool, T*, const T*, T*, i64, cudaStream_t);                  \
  template void adamStep<T>(double, double, double, double, double, bool, double, double, T*, const T*, T*, T*, \
                            i64, cudaStream_t);                                                                 \
  template void rmspropStep<T>(double, double, double, double, double, T*, const T*, T*, T*, i64, cudaStream_t);
KAON_INSTANTIATE(float)
KAON_INSTANTIATE(double)
#undef KAON_INSTANTIATE

}  // namespace kaon::ops::cuda
