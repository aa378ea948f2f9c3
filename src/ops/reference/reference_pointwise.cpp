// Reference activations, softmax and element-wise arithmetic.
#include <cmath>

#include "reference_kernels.hpp"

namespace kaon::ops::reference {
namespace {

double activate(Activation kind, double alpha, double x) {
  switch (kind) {
    case Activation::Identity: return x;
    case Activation::Relu: return x > 0 ? x : 0.0;
    case Activation::LeakyRelu: return x > 0 ? x : alpha * x;
    case Activation::Sigmoid: return 1.0 / (1.0 + std::exp(-x));
    case Activation::Tanh: return std::tanh(x);
    case Activation::Elu: return x > 0 ? x : alpha * (std::exp(x) - 1.0);
  }
  return 0;
}

double derivative(Activation kind, double alpha, double x) {
  switch (kind) {
    case Activation::Identity: return 1.0;
    case Activation::Relu: return x > 0 ? 1.0 : 0.0;
    case Activation::LeakyRelu: return x > 0 ? 1.0 : alpha;
    case Activation::Sigmoid: {
      double s = 1.0 / (1.0 + std::exp(-x));
      return s * (1.0 - s);
    }
    case Activation::Tanh: {
      double t = std::tanh(x);
      return 1.0 - t * t;
    }
    case Activation::Elu: return x > 0 ? 1.0 : alpha * std::exp(x);
  }
  return 0;
}

}  // namespace

void activationForward(Activation kind, double alpha, const Tensor& x, const Tensor& y) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto X = x.span<T>();
    auto Y = y.span<T>();
    for (std::size_t i = 0; i < X.size(); ++i) Y[i] = static_cast<T>(activate(kind, alpha, X[i]));
  });
}

void activationBackward(Activation kind, double alpha, const Tensor& x, const Tensor&, const Tensor& dy,
                        const Tensor& dx, double beta) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto X = x.span<T>();
    auto DY = dy.span<T>();
    auto DX = dx.span<T>();
    for (std::size_t i = 0; i < X.size(); ++i)
      DX[i] = static_cast<T>(derivative(kind, alpha, X[i]) * DY[i] + (beta == 0.0 ? 0.0 : beta * DX[i]));
  });
}

void softmaxForward(const Tensor& x, const Tensor& y) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    T* Y = y.data<T>();
    std::int64_t N = x.dim(0), C = x.dim(1), inner = x.shape().count(2, x.rank());
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t i = 0; i < inner; ++i) {
        auto at = [&](std::int64_t c) { return (n * C + c) * inner + i; };
        double mx = -INFINITY, total = 0;
        for (std::int64_t c = 0; c < C; ++c) mx = std::max(mx, static_cast<double>(X[at(c)]));
        for (std::int64_t c = 0; c < C; ++c) total += std::exp(X[at(c)] - mx);
        for (std::int64_t c = 0; c < C; ++c) Y[at(c)] = static_cast<T>(std::exp(X[at(c)] - mx) / total);
      }
  });
}

void softmaxBackward(const Tensor& y, const Tensor& dy, const Tensor& dx, double beta) {
  dispatchFloat(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* Y = y.data<T>();
    const T* DY = dy.data<T>();
    T* DX = dx.data<T>();
    std::int64_t N = y.dim(0), C = y.dim(1), inner = y.shape().count(2, y.rank());
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t i = 0; i < inner; ++i) {
        auto at = [&](std::int64_t c) { return (n * C + c) * inner + i; };
        double dot = 0;
        for (std::int64_t c = 0; c < C; ++c) dot += static_cast<double>(Y[at(c)]) * DY[at(c)];
        for (std::int64_t c = 0; c < C; ++c)
          DX[at(c)] = static_cast<T>(Y[at(c)] * (DY[at(c)] - dot) + (beta == 0.0 ? 0.0 : beta * DX[at(c)]));
      }
  });
}

void axpby(double alpha, const Tensor& a, double beta, const Tensor& b, const Tensor& out) {
  dispatchFloat(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto A = a.span<T>();
    auto B = b.span<T>();
    auto O = out.span<T>();
    for (std::size_t i = 0; i < O.size(); ++i) O[i] = static_cast<T>(alpha * A[i] + beta * B[i]);
  });
}

void mul(const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatchFloat(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto A = a.span<T>();
    auto B = b.span<T>();
    auto O = out.span<T>();
    for (std::size_t i = 0; i < O.size(); ++i) O[i] = A[i] * B[i];
  });
}

double sumAll(const Tensor& x) {
  return dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    double acc = 0;
    for (T v : x.span<T>()) acc += v;
    return acc;
  });
}

double sumSquares(const Tensor& x) {
  return dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    double acc = 0;
    for (T v : x.span<T>()) acc += static_cast<double>(v) * v;
    return acc;
  });
}

void sumMiddleForward(const Tensor& x, const Tensor& y, std::int64_t outer, std::int64_t size, std::int64_t inner) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto X = x.span<T>();
    auto Y = y.span<T>();
    for (std::int64_t o = 0; o < outer; ++o)
      for (std::int64_t i = 0; i < inner; ++i) {
        double acc = 0;
        for (std::int64_t r = 0; r < size; ++r) acc += X[(o * size + r) * inner + i];
        Y[o * inner + i] = static_cast<T>(acc);
      }
  });
}

void sumMiddleBackward(const Tensor& dy, const Tensor& dx, double beta, std::int64_t outer, std::int64_t size,
                       std::int64_t inner) {
  dispatchFloat(dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto DY = dy.span<T>();
    auto DX = dx.span<T>();
    for (std::int64_t o = 0; o < outer; ++o)
      for (std::int64_t r = 0; r < size; ++r)
        for (std::int64_t i = 0; i < inner; ++i) {
          T& d = DX[(o * size + r) * inner + i];
          d = static_cast<T>(DY[o * inner + i] + (beta == 0.0 ? 0.0 : beta * d));
        }
  });
}

void sgdStep(const SgdStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& velocity) {
  dispatchFloat(param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto P = param.span<T>();
    auto G = grad.span<T>();
    for (std::size_t i = 0; i < P.size(); ++i) {
      double g = G[i] + a.weightDecay * P[i];
      if (a.momentum != 0.0) {
        // PyTorch's formulation: v = mu*v + g; step = nesterov ? g + mu*v : v.
        auto V = velocity.span<T>();
        double v = a.momentum * V[i] + g;
        V[i] = static_cast<T>(v);
        g = a.nesterov ? g + a.momentum * v : v;
      }
      P[i] = static_cast<T>(P[i] - a.lr * g);
    }
  });
}

}  // namespace kaon::ops::reference
