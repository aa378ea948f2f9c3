// Element-wise CPU kernels: plain loops that GCC vectorises (-O3 -march=native), split across
// threads only when the tensor is large enough to pay for it.
#include <algorithm>
#include <cmath>

#include "cpu_kernels.hpp"
#include "kaon/core/runtime.hpp"

namespace kaon::ops::cpu {
namespace {

constexpr std::int64_t kParallelThreshold = 1 << 15;

template <class T, class F>
void forEach(std::int64_t n, F&& f) {
#pragma omp parallel for simd schedule(static) if (n > kParallelThreshold)
  for (std::int64_t i = 0; i < n; ++i) f(i);
}

// ReLU with plain restrict pointers: the generic forEach + lambda form above is not vectorised
// by GCC 12 (the OpenMP-outlined body reloads the captured pointers), and ReLU on the first
// conv layer's output is a large share of a CNN step.
template <class T>
void reluForward(const T* __restrict X, T* __restrict Y, std::int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelThreshold)
  for (std::int64_t i = 0; i < n; ++i) Y[i] = X[i] > T(0) ? X[i] : T(0);
}
template <class T>
void reluBackward(const T* __restrict X, const T* __restrict DY, T* __restrict DX, T beta, std::int64_t n) {
  if (beta == T(0)) {
#pragma omp parallel for simd schedule(static) if (n > kParallelThreshold)
    for (std::int64_t i = 0; i < n; ++i) DX[i] = (X[i] > T(0) ? T(1) : T(0)) * DY[i];
  } else {
#pragma omp parallel for simd schedule(static) if (n > kParallelThreshold)
    for (std::int64_t i = 0; i < n; ++i) DX[i] = (X[i] > T(0) ? T(1) : T(0)) * DY[i] + beta * DX[i];
  }
}

template <class T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

}  // namespace

void activationForward(Activation kind, double alpha, const Tensor& x, const Tensor& y) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    T* Y = y.data<T>();
    const T a = static_cast<T>(alpha);
    const std::int64_t n = x.numel();
    if (kind == Activation::Relu && X != Y) return reluForward(X, Y, n);
    switch (kind) {
      case Activation::Identity: forEach<T>(n, [&](auto i) { Y[i] = X[i]; }); break;
      case Activation::Relu: forEach<T>(n, [&](auto i) { Y[i] = X[i] > T(0) ? X[i] : T(0); }); break;
      case Activation::LeakyRelu: forEach<T>(n, [&](auto i) { Y[i] = X[i] > T(0) ? X[i] : a * X[i]; }); break;
      case Activation::Sigmoid: forEach<T>(n, [&](auto i) { Y[i] = sigmoid(X[i]); }); break;
      case Activation::Tanh: forEach<T>(n, [&](auto i) { Y[i] = std::tanh(X[i]); }); break;
      case Activation::Elu: forEach<T>(n, [&](auto i) { Y[i] = X[i] > T(0) ? X[i] : a * std::expm1(X[i]); }); break;
    }
  });
}

void activationBackward(Activation kind, double alpha, const Tensor& x, const Tensor& y, const Tensor& dy,
                        const Tensor& dx, double beta) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    const T* Y = y.data<T>();
    const T* DY = dy.data<T>();
    T* DX = dx.data<T>();
    const T a = static_cast<T>(alpha), b = static_cast<T>(beta);
    const std::int64_t n = x.numel();
    if (kind == Activation::Relu && DX != X && DX != DY) return reluBackward(X, DY, DX, b, n);
    auto run = [&](auto deriv) {
      if (beta == 0.0) forEach<T>(n, [&](auto i) { DX[i] = deriv(i) * DY[i]; });
      else forEach<T>(n, [&](auto i) { DX[i] = deriv(i) * DY[i] + b * DX[i]; });
    };
    switch (kind) {
      case Activation::Identity: run([&](auto) { return T(1); }); break;
      case Activation::Relu: run([&](auto i) { return X[i] > T(0) ? T(1) : T(0); }); break;
      case Activation::LeakyRelu: run([&](auto i) { return X[i] > T(0) ? T(1) : a; }); break;
      case Activation::Sigmoid: run([&](auto i) { return Y[i] * (T(1) - Y[i]); }); break;
      case Activation::Tanh: run([&](auto i) { return T(1) - Y[i] * Y[i]; }); break;
      case Activation::Elu: run([&](auto i) { return X[i] > T(0) ? T(1) : Y[i] + a; }); break;
    }
  });
}

void softmaxForward(const Tensor& x, const Tensor& y) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    T* Y = y.data<T>();
    const std::int64_t N = x.dim(0), C = x.dim(1), inner = x.shape().count(2, x.rank());
#pragma omp parallel for schedule(static) if (x.numel() > kParallelThreshold)
    for (std::int64_t ni = 0; ni < N * inner; ++ni) {
      const std::int64_t n = ni / inner, i = ni % inner;
      const T* xr = X + n * C * inner + i;
      T* yr = Y + n * C * inner + i;
      T mx = xr[0];
      for (std::int64_t c = 1; c < C; ++c) mx = std::max(mx, xr[c * inner]);
      T total = 0;
      for (std::int64_t c = 0; c < C; ++c) total += (yr[c * inner] = std::exp(xr[c * inner] - mx));
      for (std::int64_t c = 0; c < C; ++c) yr[c * inner] /= total;
    }
  });
}

void softmaxBackward(const Tensor& y, const Tensor& dy, const Tensor& dx, double beta) {
  dispatchFloat(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* Y = y.data<T>();
    const T* DY = dy.data<T>();
    T* DX = dx.data<T>();
    const std::int64_t N = y.dim(0), C = y.dim(1), inner = y.shape().count(2, y.rank());
#pragma omp parallel for schedule(static) if (y.numel() > kParallelThreshold)
    for (std::int64_t ni = 0; ni < N * inner; ++ni) {
      const std::int64_t base = (ni / inner) * C * inner + ni % inner;
      T dot = 0;
      for (std::int64_t c = 0; c < C; ++c) dot += Y[base + c * inner] * DY[base + c * inner];
      for (std::int64_t c = 0; c < C; ++c) {
        std::int64_t k = base + c * inner;
        DX[k] = Y[k] * (DY[k] - dot) + (beta == 0.0 ? T(0) : static_cast<T>(beta) * DX[k]);
      }
    }
  });
}

void axpby(double alpha, const Tensor& a, double beta, const Tensor& b, const Tensor& out) {
  dispatchFloat(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* A = a.data<T>();
    const T* B = b.data<T>();
    T* O = out.data<T>();
    const T al = static_cast<T>(alpha), be = static_cast<T>(beta);
    forEach<T>(out.numel(), [&](auto i) { O[i] = al * A[i] + be * B[i]; });
  });
}

void mul(const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatchFloat(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* A = a.data<T>();
    const T* B = b.data<T>();
    T* O = out.data<T>();
    forEach<T>(out.numel(), [&](auto i) { O[i] = A[i] * B[i]; });
  });
}

double sumAll(const Tensor& x) {
  return dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    double acc = 0;
#pragma omp parallel for simd reduction(+ : acc) if (x.numel() > kParallelThreshold)
    for (std::int64_t i = 0; i < x.numel(); ++i) acc += X[i];
    return acc;
  });
}

double sumSquares(const Tensor& x) {
  return dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    double acc = 0;
#pragma omp parallel for simd reduction(+ : acc) if (x.numel() > kParallelThreshold)
    for (std::int64_t i = 0; i < x.numel(); ++i) acc += static_cast<double>(X[i]) * X[i];
    return acc;
  });
}

void sumMiddleForward(const Tensor& x, const Tensor& y, std::int64_t outer, std::int64_t size, std::int64_t inner) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    T* Y = y.data<T>();
    // One output per task; inner = 1 (the ECAL sum) reads contiguous blocks of `size`.
    const std::int64_t outputs = outer * inner;
#pragma omp parallel for schedule(static) num_threads(numThreads()) if (x.numel() > kParallelThreshold && outputs > 1)
    for (std::int64_t k = 0; k < outputs; ++k) {
      const std::int64_t o = k / inner, i = k % inner;
      const T* src = X + o * size * inner + i;
      double acc = 0;
      for (std::int64_t r = 0; r < size; ++r) acc += src[r * inner];
      Y[k] = static_cast<T>(acc);
    }
  });
}

void sumMiddleBackward(const Tensor& dy, const Tensor& dx, double beta, std::int64_t outer, std::int64_t size,
                       std::int64_t inner) {
  dispatchFloat(dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* DY = dy.data<T>();
    T* DX = dx.data<T>();
    const T b = static_cast<T>(beta);
    const std::int64_t rows = outer * size;
#pragma omp parallel for schedule(static) num_threads(numThreads()) if (dx.numel() > kParallelThreshold)
    for (std::int64_t row = 0; row < rows; ++row) {
      const T* src = DY + row / size * inner;
      T* out = DX + row * inner;
      if (beta == 0.0) std::copy(src, src + inner, out);
      else for (std::int64_t i = 0; i < inner; ++i) out[i] = src[i] + b * out[i];
    }
  });
}

void sgdStep(const SgdStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& velocity) {
  dispatchFloat(param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* P = param.data<T>();
    const T* G = grad.data<T>();
    const T lr = static_cast<T>(a.lr), mu = static_cast<T>(a.momentum), wd = static_cast<T>(a.weightDecay);
    if (a.momentum == 0.0) {
      forEach<T>(param.numel(), [&](auto i) { P[i] -= lr * (G[i] + wd * P[i]); });
      return;
    }
    T* V = velocity.data<T>();
    const bool nesterov = a.nesterov;
    forEach<T>(param.numel(), [&](auto i) {
      T g = G[i] + wd * P[i];
      T v = mu * V[i] + g;
      V[i] = v;
      P[i] -= lr * (nesterov ? g + mu * v : v);
    });
  });
}

}  // namespace kaon::ops::cpu
