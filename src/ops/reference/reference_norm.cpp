// Reference batch normalisation and dropout: per-channel loops in double, the textbook formulas.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kaon/ops/counter_rng.hpp"
#include "reference_kernels.hpp"

namespace kaon::ops::reference {
namespace {

// x [N, C, inner...] -> (N, C, inner); element (n, c, i) is at (n*C + c)*inner + i.
struct NCI {
  std::int64_t n, c, inner;
  std::int64_t at(std::int64_t ni, std::int64_t ci, std::int64_t i) const { return (ni * c + ci) * inner + i; }
};
NCI nciOf(const Tensor& x) { return {x.dim(0), x.dim(1), x.shape().count(2, x.rank())}; }

template <class T>
double valueOr(const Tensor& t, std::int64_t i, double fallback) {
  return t.defined() ? static_cast<double>(t.data<T>()[i]) : fallback;
}

}  // namespace

void batchNormForward(bool training, double momentum, double eps, const Tensor& x, const Tensor& gamma,
                      const Tensor& beta, const Tensor& runningMean, const Tensor& runningVar, const Tensor& y,
                      const Tensor& saveMean, const Tensor& saveInvStd) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    T* Y = y.data<T>();
    NCI s = nciOf(x);
    const double m = static_cast<double>(s.n * s.inner);
    for (std::int64_t c = 0; c < s.c; ++c) {
      double mean, var;
      if (training) {
        double sum = 0;
        for (std::int64_t n = 0; n < s.n; ++n)
          for (std::int64_t i = 0; i < s.inner; ++i) sum += X[s.at(n, c, i)];
        mean = sum / m;
        double sq = 0;
        for (std::int64_t n = 0; n < s.n; ++n)
          for (std::int64_t i = 0; i < s.inner; ++i) sq += (X[s.at(n, c, i)] - mean) * (X[s.at(n, c, i)] - mean);
        var = sq / m;
        if (runningMean.defined()) {
          T& rm = runningMean.data<T>()[c];
          T& rv = runningVar.data<T>()[c];
          double unbiased = m > 1 ? var * m / (m - 1) : var;
          rm = static_cast<T>(momentum * rm + (1 - momentum) * mean);
          rv = static_cast<T>(momentum * rv + (1 - momentum) * unbiased);
        }
      } else {
        mean = runningMean.data<T>()[c];
        var = runningVar.data<T>()[c];
      }
      double invStd = 1.0 / std::sqrt(var + eps);
      if (saveMean.defined()) saveMean.data<T>()[c] = static_cast<T>(mean);
      if (saveInvStd.defined()) saveInvStd.data<T>()[c] = static_cast<T>(invStd);
      double g = valueOr<T>(gamma, c, 1.0), b = valueOr<T>(beta, c, 0.0);
      for (std::int64_t n = 0; n < s.n; ++n)
        for (std::int64_t i = 0; i < s.inner; ++i)
          Y[s.at(n, c, i)] = static_cast<T>(g * (X[s.at(n, c, i)] - mean) * invStd + b);
    }
  });
}

void batchNormBackward(bool training, const Tensor& x, const Tensor& dy, const Tensor& gamma, const Tensor& saveMean,
                       const Tensor& saveInvStd, const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta,
                       double betaAcc) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    const T* DY = dy.data<T>();
    NCI s = nciOf(x);
    const double m = static_cast<double>(s.n * s.inner);
    for (std::int64_t c = 0; c < s.c; ++c) {
      const double mean = saveMean.data<T>()[c], invStd = saveInvStd.data<T>()[c];
      const double g = valueOr<T>(gamma, c, 1.0);
      double sumDy = 0, sumDyXhat = 0;
      for (std::int64_t n = 0; n < s.n; ++n)
        for (std::int64_t i = 0; i < s.inner; ++i) {
          double d = DY[s.at(n, c, i)];
          sumDy += d;
          sumDyXhat += d * (X[s.at(n, c, i)] - mean) * invStd;
        }
      auto accumulate = [&](const Tensor& t, double v) {
        if (!t.defined()) return;
        T& out = t.data<T>()[c];
        out = static_cast<T>(v + (betaAcc == 0.0 ? 0.0 : betaAcc * out));
      };
      accumulate(dgamma, sumDyXhat);
      accumulate(dbeta, sumDy);
      if (!dx.defined()) continue;
      T* DX = dx.data<T>();
      for (std::int64_t n = 0; n < s.n; ++n)
        for (std::int64_t i = 0; i < s.inner; ++i) {
          std::int64_t k = s.at(n, c, i);
          double xhat = (X[k] - mean) * invStd;
          // Training: y depends on x also through the batch mean and variance.
          double d = training ? (DY[k] - sumDy / m - xhat * sumDyXhat / m) : static_cast<double>(DY[k]);
          DX[k] = static_cast<T>(g * invStd * d);
        }
    }
  });
}

void batchNormStatistics(const Tensor& x, const Tensor& stats) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    NCI s = nciOf(x);
    double* S = stats.data<double>();
    for (std::int64_t c = 0; c < s.c; ++c) {
      double sum = 0, sq = 0;
      for (std::int64_t n = 0; n < s.n; ++n)
        for (std::int64_t i = 0; i < s.inner; ++i) {
          double v = X[s.at(n, c, i)];
          sum += v;
          sq += v * v;
        }
      S[c] = sum;
      S[s.c + c] = sq;
    }
    S[2 * s.c] = static_cast<double>(s.n * s.inner);
  });
}

void batchNormForwardFromStatistics(double momentum, double eps, const Tensor& x, const Tensor& gamma,
                                    const Tensor& beta, const Tensor& runningMean, const Tensor& runningVar,
                                    const Tensor& stats, const Tensor& y, const Tensor& saveMean,
                                    const Tensor& saveInvStd) {
  // The same arithmetic as an eval-mode forward with (mean, var) in place of the running statistics.
  const std::int64_t C = x.dim(1);
  const double* S = stats.data<double>();
  const double m = S[2 * C];
  Tensor mean = Tensor::empty(Shape{C}, x.dtype()), var = Tensor::empty(Shape{C}, x.dtype());
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    for (std::int64_t c = 0; c < C; ++c) {
      double mu = S[c] / m, v = std::max(0.0, S[C + c] / m - mu * mu);
      mean.data<T>()[c] = static_cast<T>(mu);
      var.data<T>()[c] = static_cast<T>(v);
      if (runningMean.defined()) {
        T& rm = runningMean.data<T>()[c];
        T& rv = runningVar.data<T>()[c];
        rm = static_cast<T>(momentum * rm + (1 - momentum) * mu);
        rv = static_cast<T>(momentum * rv + (1 - momentum) * (m > 1 ? v * m / (m - 1) : v));
      }
    }
  });
  batchNormForward(false, momentum, eps, x, gamma, beta, mean, var, y, saveMean, saveInvStd);
}

void batchNormBackwardFromSums(const Tensor& x, const Tensor& dy, const Tensor& gamma, const Tensor& saveMean,
                               const Tensor& saveInvStd, const Tensor& sums, const Tensor& stats, const Tensor& dx) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    const T* DY = dy.data<T>();
    const T* S = sums.data<T>();
    T* DX = dx.data<T>();
    NCI s = nciOf(x);
    const double count = stats.data<double>()[2 * s.c];
    for (std::int64_t c = 0; c < s.c; ++c) {
      const double mean = saveMean.data<T>()[c], invStd = saveInvStd.data<T>()[c], g = valueOr<T>(gamma, c, 1.0);
      const double sumDy = S[c], sumDyXhat = S[s.c + c];
      for (std::int64_t n = 0; n < s.n; ++n)
        for (std::int64_t i = 0; i < s.inner; ++i) {
          std::int64_t k = s.at(n, c, i);
          double xhat = (X[k] - mean) * invStd;
          DX[k] = static_cast<T>(g * invStd * (DY[k] - sumDy / count - xhat * sumDyXhat / count));
        }
    }
  });
}

void dropoutForward(double rate, std::uint64_t seed, std::uint64_t offset, const Tensor& x, const Tensor& y,
                    const Tensor& mask) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto X = x.span<T>();
    auto Y = y.span<T>();
    auto M = mask.span<T>();
    const double scale = 1.0 / (1.0 - rate);
    for (std::size_t i = 0; i < X.size(); ++i) {
      bool keep = counterUniform(seed, offset + i) >= rate;
      M[i] = static_cast<T>(keep ? scale : 0.0);
      Y[i] = static_cast<T>(X[i] * static_cast<double>(M[i]));
    }
  });
}

}  // namespace kaon::ops::reference
