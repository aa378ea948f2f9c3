// Batch normalisation and dropout on the CPU. Batch-norm statistics: two passes (mean, then
// centred squares: no cancellation) over the N*C planes in parallel, each thread summing into its
// own per-channel row in double, rows then added in a fixed order (deterministic for a given
// thread count). Dropout: the counter-based mask, one independent draw per element.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu_kernels.hpp"
#include "kaon/core/runtime.hpp"
#include "kaon/ops/counter_rng.hpp"

namespace kaon::ops::cpu {
namespace {

constexpr std::int64_t kParallelThreshold = 1 << 15;  // elements

struct NCI {
  std::int64_t n, c, inner;
};
NCI nciOf(const Tensor& x) { return {x.dim(0), x.dim(1), x.shape().count(2, x.rank())}; }

// Runs f(n, c, acc) for every plane (n, c); f adds K values to acc[k*C + c]. Returns the per-channel
// totals [K*C].
template <class F>
std::vector<double> perChannel(const NCI& s, int K, F&& f) {
  const int threads = s.n * s.c * s.inner > kParallelThreshold ? numThreads() : 1;
  const std::size_t width = static_cast<std::size_t>(K * s.c);
  std::vector<double> partial(static_cast<std::size_t>(threads) * width, 0.0);
#pragma omp parallel num_threads(threads)
  {
    double* acc = partial.data() + static_cast<std::size_t>(omp_get_thread_num()) * width;
#pragma omp for schedule(static)
    for (std::int64_t p = 0; p < s.n * s.c; ++p) f(p / s.c, p % s.c, acc);
  }
  std::vector<double> total(width, 0.0);
  for (int t = 0; t < threads; ++t)
    for (std::size_t i = 0; i < width; ++i) total[i] += partial[t * width + i];
  return total;
}

// Runs f(n, c) for every plane, in parallel when the tensor is large.
template <class F>
void forEachPlane(const NCI& s, F&& f) {
#pragma omp parallel for schedule(static) num_threads(numThreads()) if (s.n * s.c * s.inner > kParallelThreshold)
  for (std::int64_t p = 0; p < s.n * s.c; ++p) f(p / s.c, p % s.c);
}

template <class T>
T valueOr(const Tensor& t, std::int64_t i, T fallback) {
  return t.defined() ? t.data<T>()[i] : fallback;
}

}  // namespace

namespace {

// Running statistics: momentum * running + (1 - momentum) * batch, unbiased variance (Keras).
template <class T>
void updateRunning(const Tensor& runningMean, const Tensor& runningVar, double momentum, double m,
                   const std::vector<double>& mean, const std::vector<double>& var) {
  if (!runningMean.defined()) return;
  T* rm = runningMean.data<T>();
  T* rv = runningVar.data<T>();
  const double unbias = m > 1 ? m / (m - 1) : 1.0;
  for (std::size_t c = 0; c < mean.size(); ++c) {
    rm[c] = static_cast<T>(momentum * rm[c] + (1 - momentum) * mean[c]);
    rv[c] = static_cast<T>(momentum * rv[c] + (1 - momentum) * var[c] * unbias);
  }
}

// y = gamma * (x - mean) / sqrt(var + eps) + beta with the given per-channel statistics.
template <class T>
void normalise(const NCI& s, const T* X, T* Y, const std::vector<double>& mean, const std::vector<double>& var,
               double eps, const Tensor& gamma, const Tensor& beta, const Tensor& saveMean, const Tensor& saveInvStd) {
  std::vector<T> centre(s.c), scale(s.c), shift(s.c);
  for (std::int64_t c = 0; c < s.c; ++c) {
    const double invStd = 1.0 / std::sqrt(var[c] + eps);
    if (saveMean.defined()) saveMean.data<T>()[c] = static_cast<T>(mean[c]);
    if (saveInvStd.defined()) saveInvStd.data<T>()[c] = static_cast<T>(invStd);
    centre[c] = static_cast<T>(mean[c]);
    scale[c] = static_cast<T>(valueOr<T>(gamma, c, T(1)) * invStd);
    shift[c] = valueOr<T>(beta, c, T(0));
  }
  forEachPlane(s, [&](std::int64_t n, std::int64_t c) {
    const T* p = X + (n * s.c + c) * s.inner;
    T* q = Y + (n * s.c + c) * s.inner;
    const T mu = centre[c], k = scale[c], b = shift[c];
    for (std::int64_t i = 0; i < s.inner; ++i) q[i] = (p[i] - mu) * k + b;
  });
}

// dx = k1*dy + k2*(x - mean) + k3 per channel; in training the last two terms carry the
// dependence of the batch statistics (over m values, with sums sumDy, sumDyXc = sum dy*(x-mean))
// on x, in eval they vanish.
template <class T>
void inputGradient(bool training, const NCI& s, const T* X, const T* DY, const T* MEAN, const T* INV,
                   const Tensor& gamma, const double* sumDy, const double* sumDyXc, double m, T* DX) {
  const std::int64_t C = s.c, inner = s.inner;
  std::vector<T> k1(C), k2(C), k3(C);
  for (std::int64_t c = 0; c < C; ++c) {
    const double inv = INV[c], gi = valueOr<T>(gamma, c, T(1)) * inv;
    k1[c] = static_cast<T>(gi);
    k2[c] = static_cast<T>(training ? -gi * inv * inv * sumDyXc[c] / m : 0.0);
    k3[c] = static_cast<T>(training ? -gi * sumDy[c] / m : 0.0);
  }
  forEachPlane(s, [&](std::int64_t n, std::int64_t c) {
    const std::int64_t base = (n * C + c) * inner;
    const T mu = MEAN[c], a = k1[c], b = k2[c], e = k3[c];
    for (std::int64_t i = 0; i < inner; ++i) DX[base + i] = a * DY[base + i] + b * (X[base + i] - mu) + e;
  });
}

}  // namespace

void batchNormForward(bool training, double momentum, double eps, const Tensor& x, const Tensor& gamma,
                      const Tensor& beta, const Tensor& runningMean, const Tensor& runningVar, const Tensor& y,
                      const Tensor& saveMean, const Tensor& saveInvStd) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    const NCI s = nciOf(x);
    const std::int64_t inner = s.inner;
    const double m = static_cast<double>(s.n * s.inner);
    std::vector<double> mean(s.c), var(s.c);
    if (training) {
      std::vector<double> sums = perChannel(s, 1, [&](std::int64_t n, std::int64_t c, double* acc) {
        const T* p = X + (n * s.c + c) * inner;
        double a = 0;
#pragma omp simd reduction(+ : a)
        for (std::int64_t i = 0; i < inner; ++i) a += p[i];
        acc[c] += a;
      });
      for (std::int64_t c = 0; c < s.c; ++c) mean[c] = sums[c] / m;
      std::vector<double> squares = perChannel(s, 1, [&](std::int64_t n, std::int64_t c, double* acc) {
        const T* p = X + (n * s.c + c) * inner;
        const double mu = mean[c];
        double a = 0;
#pragma omp simd reduction(+ : a)
        for (std::int64_t i = 0; i < inner; ++i) a += (p[i] - mu) * (p[i] - mu);
        acc[c] += a;
      });
      for (std::int64_t c = 0; c < s.c; ++c) var[c] = squares[c] / m;
      updateRunning<T>(runningMean, runningVar, momentum, m, mean, var);
    } else {
      for (std::int64_t c = 0; c < s.c; ++c) {
        mean[c] = runningMean.data<T>()[c];
        var[c] = runningVar.data<T>()[c];
      }
    }
    normalise<T>(s, X, y.data<T>(), mean, var, eps, gamma, beta, saveMean, saveInvStd);
  });
}

void batchNormStatistics(const Tensor& x, const Tensor& stats) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    const NCI s = nciOf(x);
    std::vector<double> sums = perChannel(s, 2, [&](std::int64_t n, std::int64_t c, double* acc) {
      const T* p = X + (n * s.c + c) * s.inner;
      double a = 0, q = 0;
#pragma omp simd reduction(+ : a, q)
      for (std::int64_t i = 0; i < s.inner; ++i) {
        a += p[i];
        q += static_cast<double>(p[i]) * p[i];
      }
      acc[c] += a;
      acc[s.c + c] += q;
    });
    double* out = stats.data<double>();
    std::copy(sums.begin(), sums.end(), out);
    out[2 * s.c] = static_cast<double>(s.n * s.inner);
  });
}

void batchNormForwardFromStatistics(double momentum, double eps, const Tensor& x, const Tensor& gamma,
                                    const Tensor& beta, const Tensor& runningMean, const Tensor& runningVar,
                                    const Tensor& stats, const Tensor& y, const Tensor& saveMean,
                                    const Tensor& saveInvStd) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const NCI s = nciOf(x);
    const double* S = stats.data<double>();
    const double m = S[2 * s.c];
    std::vector<double> mean(s.c), var(s.c);
    for (std::int64_t c = 0; c < s.c; ++c) {
      mean[c] = S[c] / m;
      var[c] = std::max(0.0, S[s.c + c] / m - mean[c] * mean[c]);
    }
    updateRunning<T>(runningMean, runningVar, momentum, m, mean, var);
    normalise<T>(s, x.data<T>(), y.data<T>(), mean, var, eps, gamma, beta, saveMean, saveInvStd);
  });
}

void batchNormBackward(bool training, const Tensor& x, const Tensor& dy, const Tensor& gamma, const Tensor& saveMean,
                       const Tensor& saveInvStd, const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta,
                       double betaAcc) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    const T* DY = dy.data<T>();
    const T* MEAN = saveMean.data<T>();
    const T* INV = saveInvStd.data<T>();
    const NCI s = nciOf(x);
    const std::int64_t inner = s.inner, C = s.c;
    const double m = static_cast<double>(s.n * s.inner);
    // [0, C): sum dy; [C, 2C): sum dy * (x - mean).
    std::vector<double> sums = perChannel(s, 2, [&](std::int64_t n, std::int64_t c, double* acc) {
      const T* p = X + (n * C + c) * inner;
      const T* d = DY + (n * C + c) * inner;
      const double mu = MEAN[c];
      double a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
      for (std::int64_t i = 0; i < inner; ++i) {
        a += d[i];
        b += d[i] * (p[i] - mu);
      }
      acc[c] += a;
      acc[C + c] += b;
    });
    for (std::int64_t c = 0; c < C; ++c) {
      const double sumDy = sums[c], sumDyXhat = sums[C + c] * INV[c];
      if (dgamma.defined()) {
        T& g = dgamma.data<T>()[c];
        g = static_cast<T>(sumDyXhat + (betaAcc == 0.0 ? 0.0 : betaAcc * g));
      }
      if (dbeta.defined()) {
        T& b = dbeta.data<T>()[c];
        b = static_cast<T>(sumDy + (betaAcc == 0.0 ? 0.0 : betaAcc * b));
      }
    }
    if (dx.defined()) inputGradient<T>(training, s, X, DY, MEAN, INV, gamma, sums.data(), sums.data() + C, m, dx.data<T>());
  });
}

void batchNormBackwardFromSums(const Tensor& x, const Tensor& dy, const Tensor& gamma, const Tensor& saveMean,
                               const Tensor& saveInvStd, const Tensor& sums, const Tensor& stats, const Tensor& dx) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const NCI s = nciOf(x);
    const T* S = sums.data<T>();
    const T* INV = saveInvStd.data<T>();
    // sums hold sum dy and sum dy * xhat; inputGradient takes sum dy * (x - mean) = that / invStd.
    std::vector<double> sumDy(s.c), sumDyXc(s.c);
    for (std::int64_t c = 0; c < s.c; ++c) {
      sumDy[c] = S[c];
      sumDyXc[c] = static_cast<double>(S[s.c + c]) / INV[c];
    }
    inputGradient<T>(true, s, x.data<T>(), dy.data<T>(), saveMean.data<T>(), INV, gamma, sumDy.data(), sumDyXc.data(),
                     stats.data<double>()[2 * s.c], dx.data<T>());
  });
}

void dropoutForward(double rate, std::uint64_t seed, std::uint64_t offset, const Tensor& x, const Tensor& y,
                    const Tensor& mask) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    T* Y = y.data<T>();
    T* M = mask.data<T>();
    const std::uint32_t threshold = counterThreshold24(rate);
    const T scale = static_cast<T>(1.0 / (1.0 - rate));
    const std::int64_t n = x.numel();
#pragma omp parallel for simd schedule(static) num_threads(numThreads()) if (n > kParallelThreshold)
    for (std::int64_t i = 0; i < n; ++i) {
      const T keep = counterUniform24(seed, offset + static_cast<std::uint64_t>(i)) >= threshold ? scale : T(0);
      M[i] = keep;
      Y[i] = X[i] * keep;
    }
  });
}

}  // namespace kaon::ops::cpu
