// Upsampling, concat/split copies along an axis, and batch normalisation.
#include "cuda_common.cuh"
#include "cuda_launch.hpp"

namespace kaon::ops::cuda {
namespace {

struct Up {
  std::int64_t in[3], out[3];
  int f[3];
};

// One thread per element of y [planes, out].
template <class T>
__global__ void upsampleForwardKernel(const T* x, T* y, Up u, std::int64_t n) {
  KAON_GRID_STRIDE(k, n) {
    std::int64_t ox = k % u.out[2], oy = k / u.out[2] % u.out[1], oz = k / (u.out[2] * u.out[1]) % u.out[0];
    std::int64_t p = k / (u.out[0] * u.out[1] * u.out[2]);
    y[k] = x[((p * u.in[0] + oz / u.f[0]) * u.in[1] + oy / u.f[1]) * u.in[2] + ox / u.f[2]];
  }
}

// One thread per element of dx [planes, in].
template <class T>
__global__ void upsampleBackwardKernel(const T* dy, T* dx, double beta, Up u, std::int64_t n) {
  KAON_GRID_STRIDE(k, n) {
    std::int64_t ix = k % u.in[2], iy = k / u.in[2] % u.in[1], iz = k / (u.in[2] * u.in[1]) % u.in[0];
    std::int64_t p = k / (u.in[0] * u.in[1] * u.in[2]);
    double acc = 0;
    for (int a = 0; a < u.f[0]; ++a)
      for (int b = 0; b < u.f[1]; ++b)
        for (int c = 0; c < u.f[2]; ++c)
          acc += ld(dy[((p * u.out[0] + iz * u.f[0] + a) * u.out[1] + iy * u.f[1] + b) * u.out[2] + ix * u.f[2] + c]);
    dx[k] = st<T>(beta == 0.0 ? acc : acc + beta * ld(dx[k]));
  }
}

// One thread per element of src [outer, srcAxis, inner].
template <class T>
__global__ void copyIntoKernel(const T* src, T* dst, std::int64_t srcAxis, std::int64_t dstAxis, std::int64_t inner,
                               std::int64_t offset, std::int64_t n) {
  KAON_GRID_STRIDE(k, n) {
    std::int64_t i = k % inner, a = k / inner % srcAxis, o = k / (inner * srcAxis);
    dst[(o * dstAxis + offset + a) * inner + i] = src[k];
  }
}

// One thread per element of dst [outer, dstAxis, inner].
template <class T>
__global__ void copyFromKernel(const T* src, T* dst, std::int64_t srcAxis, std::int64_t dstAxis, std::int64_t inner,
                               std::int64_t offset, double beta, std::int64_t n) {
  KAON_GRID_STRIDE(k, n) {
    std::int64_t i = k % inner, a = k / inner % dstAxis, o = k / (inner * dstAxis);
    T v = src[(o * srcAxis + offset + a) * inner + i];
    dst[k] = beta == 0.0 ? v : st<T>(ld(v) + beta * ld(dst[k]));
  }
}

// One block per output k = o * inner + i of y [outer, inner].
template <class T>
__global__ void sumMiddleForwardKernel(const T* x, T* y, std::int64_t size, std::int64_t inner) {
  const std::int64_t k = blockIdx.x, o = k / inner, i = k % inner;
  double acc = 0;
  for (std::int64_t r = threadIdx.x; r < size; r += blockDim.x) acc += ld(x[(o * size + r) * inner + i]);
  acc = blockSum(acc);
  if (threadIdx.x == 0) y[k] = st<T>(acc);
}

// One thread per element of dx [outer, size, inner].
template <class T>
__global__ void sumMiddleBackwardKernel(const T* dy, T* dx, double beta, std::int64_t size, std::int64_t inner,
                                        std::int64_t n) {
  KAON_GRID_STRIDE(k, n) {
    T v = dy[k / (size * inner) * inner + k % inner];
    dx[k] = beta == 0.0 ? v : st<T>(ld(v) + beta * ld(dx[k]));
  }
}

// One block per channel c of x [N, C, inner].
template <class T>
__global__ void batchNormForwardKernel(bool training, double momentum, double eps, const T* x, const T* gamma,
                                       const T* beta, T* runningMean, T* runningVar, T* y, T* saveMean,
                                       T* saveInvStd, std::int64_t N, std::int64_t C, std::int64_t inner) {
  const std::int64_t c = blockIdx.x, M = N * inner;
  auto at = [&](std::int64_t k) { return (k / inner * C + c) * inner + k % inner; };
  double mean, invStd;
  if (training) {
    double s = 0;
    for (std::int64_t k = threadIdx.x; k < M; k += blockDim.x) s += x[at(k)];
    mean = blockSum(s) / static_cast<double>(M);
    double q = 0;
    for (std::int64_t k = threadIdx.x; k < M; k += blockDim.x) {
      double d = x[at(k)] - mean;
      q += d * d;
    }
    double var = blockSum(q) / static_cast<double>(M);
    invStd = 1.0 / sqrt(var + eps);
    if (threadIdx.x == 0) {
      if (saveMean) saveMean[c] = static_cast<T>(mean);
      if (saveInvStd) saveInvStd[c] = static_cast<T>(invStd);
      double unbiased = M > 1 ? var * static_cast<double>(M) / static_cast<double>(M - 1) : var;
      runningMean[c] = static_cast<T>(momentum * runningMean[c] + (1.0 - momentum) * mean);
      runningVar[c] = static_cast<T>(momentum * runningVar[c] + (1.0 - momentum) * unbiased);
    }
  } else {
    mean = runningMean[c];
    invStd = 1.0 / sqrt(static_cast<double>(runningVar[c]) + eps);
    // Saved like in training, so backward after an eval-mode forward has its constants.
    if (threadIdx.x == 0) {
      if (saveMean) saveMean[c] = static_cast<T>(mean);
      if (saveInvStd) saveInvStd[c] = static_cast<T>(invStd);
    }
  }
  const double g = gamma ? static_cast<double>(gamma[c]) : 1.0, b = beta ? static_cast<double>(beta[c]) : 0.0;
  for (std::int64_t k = threadIdx.x; k < M; k += blockDim.x) y[at(k)] = static_cast<T>(g * (x[at(k)] - mean) * invStd + b);
}

template <class T>
__global__ void batchNormBackwardKernel(bool training, const T* x, const T* dy, const T* gamma, const T* saveMean,
                                        const T* saveInvStd, T* dx, T* dgamma, T* dbeta, double betaAcc,
                                        std::int64_t N, std::int64_t C, std::int64_t inner) {
  const std::int64_t c = blockIdx.x, M = N * inner;
  auto at = [&](std::int64_t k) { return (k / inner * C + c) * inner + k % inner; };
  const double mean = saveMean[c], invStd = saveInvStd[c], g = gamma ? static_cast<double>(gamma[c]) : 1.0;
  double sdy = 0, sdyx = 0;
  for (std::int64_t k = threadIdx.x; k < M; k += blockDim.x) {
    double d = dy[at(k)];
    sdy += d;
    sdyx += d * (x[at(k)] - mean) * invStd;
  }
  sdy = blockSum(sdy);
  sdyx = blockSum(sdyx);
  const double scale = g * invStd / static_cast<double>(M);
  // Training: the batch statistics depend on x; eval: they are constants, dx = g * invStd * dy.
  for (std::int64_t k = threadIdx.x; dx && k < M; k += blockDim.x) {
    double xhat = (x[at(k)] - mean) * invStd;
    dx[at(k)] = training ? static_cast<T>(scale * (static_cast<double>(M) * dy[at(k)] - sdy - xhat * sdyx))
                         : static_cast<T>(g * invStd * dy[at(k)]);
  }
  if (threadIdx.x == 0) {
    if (dgamma) dgamma[c] = static_cast<T>(sdyx + (betaAcc == 0.0 ? 0.0 : betaAcc * dgamma[c]));
    if (dbeta) dbeta[c] = static_cast<T>(sdy + (betaAcc == 0.0 ? 0.0 : betaAcc * dbeta[c]));
  }
}

// Cross-replica batch norm, one block per channel c of x [N, C, inner]. stats [2C + 1]:
// (sum x, sum x^2 per channel, M).
template <class T>
__global__ void batchNormStatisticsKernel(const T* x, double* stats, std::int64_t N, std::int64_t C,
                                          std::int64_t inner) {
  const std::int64_t c = blockIdx.x, M = N * inner;
  auto at = [&](std::int64_t k) { return (k / inner * C + c) * inner + k % inner; };
  double s = 0, q = 0;
  for (std::int64_t k = threadIdx.x; k < M; k += blockDim.x) {
    double v = x[at(k)];
    s += v;
    q += v * v;
  }
  s = blockSum(s);
  q = blockSum(q);
  if (threadIdx.x == 0) {
    stats[c] = s;
    stats[C + c] = q;
    if (c == 0) stats[2 * C] = static_cast<double>(M);
  }
}

template <class T>
__global__ void batchNormFromStatisticsKernel(double momentum, double eps, const T* x, const T* gamma, const T* beta,
                                              T* runningMean, T* runningVar, const double* stats, T* y, T* saveMean,
                                              T* saveInvStd, std::int64_t N, std::int64_t C, std::int64_t inner) {
  const std::int64_t c = blockIdx.x, M = N * inner;
  auto at = [&](std::int64_t k) { return (k / inner * C + c) * inner + k % inner; };
  const double m = stats[2 * C], mean = stats[c] / m, var = fmax(0.0, stats[C + c] / m - mean * mean);
  const double invStd = 1.0 / sqrt(var + eps);
  if (threadIdx.x == 0) {
    saveMean[c] = static_cast<T>(mean);
    saveInvStd[c] = static_cast<T>(invStd);
    if (runningMean) {
      runningMean[c] = static_cast<T>(momentum * runningMean[c] + (1.0 - momentum) * mean);
      runningVar[c] = static_cast<T>(momentum * runningVar[c] + (1.0 - momentum) * (m > 1 ? var * m / (m - 1) : var));
    }
  }
  const double g = gamma ? static_cast<double>(gamma[c]) : 1.0, b = beta ? static_cast<double>(beta[c]) : 0.0;
  for (std::int64_t k = threadIdx.x; k < M; k += blockDim.x) y[at(k)] = static_cast<T>(g * (x[at(k)] - mean) * invStd + b);
}

// sums [2, C]: sum dy, sum dy * xhat over the replicas; stats[2C]: values per channel over the replicas.
template <class T>
__global__ void batchNormBackwardFromSumsKernel(const T* x, const T* dy, const T* gamma, const T* saveMean,
                                                const T* saveInvStd, const T* sums, const double* stats, T* dx,
                                                std::int64_t N, std::int64_t C, std::int64_t inner) {
  const std::int64_t c = blockIdx.x, M = N * inner;
  auto at = [&](std::int64_t k) { return (k / inner * C + c) * inner + k % inner; };
  const double mean = saveMean[c], invStd = saveInvStd[c], g = gamma ? static_cast<double>(gamma[c]) : 1.0;
  const double sdy = sums[c], sdyx = sums[C + c], count = stats[2 * C];
  for (std::int64_t k = threadIdx.x; k < M; k += blockDim.x) {
    double xhat = (x[at(k)] - mean) * invStd;
    dx[at(k)] = static_cast<T>(g * invStd * (dy[at(k)] - sdy / count - xhat * sdyx / count));
  }
}

Up upDims(const Geom3& g, const int f[3]) {
  Up u{};
  for (int a = 0; a < 3; ++a) u.in[a] = g.in[a], u.out[a] = g.out[a], u.f[a] = f[a];
  return u;
}

}  // namespace

template <class T>
void upsampleForward(const T* x, T* y, const Geom3& g, const int f[3], cudaStream_t s) {
  i64 n = g.planes * g.out[0] * g.out[1] * g.out[2];
  if (n > 0) upsampleForwardKernel<<<gridFor(n), kThreads, 0, s>>>(x, y, upDims(g, f), n);
}
template <class T>
void upsampleBackward(const T* dy, T* dx, double beta, const Geom3& g, const int f[3], cudaStream_t s) {
  i64 n = g.planes * g.in[0] * g.in[1] * g.in[2];
  if (n > 0) upsampleBackwardKernel<<<gridFor(n), kThreads, 0, s>>>(dy, dx, beta, upDims(g, f), n);
}
template <class T>
void copyIntoAxis(const T* src, T* dst, i64 outer, i64 srcAxis, i64 dstAxis, i64 inner, i64 offset, cudaStream_t s) {
  i64 n = outer * srcAxis * inner;
  if (n > 0) copyIntoKernel<<<gridFor(n), kThreads, 0, s>>>(src, dst, srcAxis, dstAxis, inner, offset, n);
}
template <class T>
void copyFromAxis(const T* src, T* dst, i64 outer, i64 srcAxis, i64 dstAxis, i64 inner, i64 offset, double beta,
                  cudaStream_t s) {
  i64 n = outer * dstAxis * inner;
  if (n > 0) copyFromKernel<<<gridFor(n), kThreads, 0, s>>>(src, dst, srcAxis, dstAxis, inner, offset, beta, n);
}
template <class T>
void sumMiddleForward(const T* x, T* y, i64 outer, i64 size, i64 inner, cudaStream_t s) {
  i64 outputs = outer * inner;
  // Grid x holds up to 2^31 - 1 blocks: far beyond any batch of sums.
  if (outputs > 0) sumMiddleForwardKernel<<<static_cast<unsigned>(outputs), kThreads, 0, s>>>(x, y, size, inner);
}
template <class T>
void sumMiddleBackward(const T* dy, T* dx, double beta, i64 outer, i64 size, i64 inner, cudaStream_t s) {
  i64 n = outer * size * inner;
  if (n > 0) sumMiddleBackwardKernel<<<gridFor(n), kThreads, 0, s>>>(dy, dx, beta, size, inner, n);
}
template <class T>
void batchNormForward(bool training, double momentum, double eps, const T* x, const T* gamma, const T* beta,
                      T* runningMean, T* runningVar, T* y, T* saveMean, T* saveInvStd, i64 N, i64 C, i64 inner,
                      cudaStream_t s) {
  if (C > 0 && N * inner > 0)
    batchNormForwardKernel<<<static_cast<unsigned>(C), kThreads, 0, s>>>(training, momentum, eps, x, gamma, beta,
                                                                         runningMean, runningVar, y, saveMean,
                                                                         saveInvStd, N, C, inner);
}
template <class T>
void batchNormBackward(bool training, const T* x, const T* dy, const T* gamma, const T* saveMean, const T* saveInvStd,
                       T* dx, T* dgamma, T* dbeta, double betaAcc, i64 N, i64 C, i64 inner, cudaStream_t s) {
  if (C > 0 && N * inner > 0)
    batchNormBackwardKernel<<<static_cast<unsigned>(C), kThreads, 0, s>>>(training, x, dy, gamma, saveMean, saveInvStd, dx,
                                                                          dgamma, dbeta, betaAcc, N, C, inner);
}

template <class T>
void batchNormStatistics(const T* x, double* stats, i64 N, i64 C, i64 inner, cudaStream_t s) {
  if (C > 0) batchNormStatisticsKernel<<<static_cast<unsigned>(C), kThreads, 0, s>>>(x, stats, N, C, inner);
}
template <class T>
void batchNormForwardFromStatistics(double momentum, double eps, const T* x, const T* gamma, const T* beta,
                                    T* runningMean, T* runningVar, const double* stats, T* y, T* saveMean,
                                    T* saveInvStd, i64 N, i64 C, i64 inner, cudaStream_t s) {
  if (C > 0 && N * inner > 0)
    batchNormFromStatisticsKernel<<<static_cast<unsigned>(C), kThreads, 0, s>>>(
        momentum, eps, x, gamma, beta, runningMean, runningVar, stats, y, saveMean, saveInvStd, N, C, inner);
}
template <class T>
void batchNormBackwardFromSums(const T* x, const T* dy, const T* gamma, const T* saveMean, const T* saveInvStd,
                               const T* sums, const double* stats, T* dx, i64 N, i64 C, i64 inner, cudaStream_t s) {
  if (C > 0 && N * inner > 0)
    batchNormBackwardFromSumsKernel<<<static_cast<unsigned>(C), kThreads, 0, s>>>(x, dy, gamma, saveMean, saveInvStd,
                                                                                  sums, stats, dx, N, C, inner);
}

#define KAON_INSTANTIATE_COPIES(T)                                                                                \
  template void sumMiddleForward<T>(const T*, T*, i64, i64, i64, cudaStream_t);                                   \
  template void sumMiddleBackward<T>(const T*, T*, double, i64, i64, i64, cudaStream_t);                          \
  template void upsampleForward<T>(const T*, T*, const Geom3&, const int*, cudaStream_t);                         \
  template void upsampleBackward<T>(const T*, T*, double, const Geom3&, const int*, cudaStream_t);                \
  template void copyIntoAxis<T>(const T*, T*, i64, i64, i64, i64, i64, cudaStream_t);                             \
  template void copyFromAxis<T>(const T*, T*, i64, i64, i64, i64, i64, double, cudaStream_t);
KAON_FOR_ALL_FLOAT_TYPES(KAON_INSTANTIATE_COPIES)
#undef KAON_INSTANTIATE_COPIES

// Batch norm: float and double only (statistics of a mixed-precision model would stay in fp32).
#define KAON_INSTANTIATE(T)                                                                                       \
  template void batchNormForward<T>(bool, double, double, const T*, const T*, const T*, T*, T*, T*, T*, T*, i64, \
                                    i64, i64, cudaStream_t);                                                      \
  template void batchNormBackward<T>(bool, const T*, const T*, const T*, const T*, const T*, T*, T*, T*, double,    \
                                     i64, i64, i64, cudaStream_t);                                                 \
  template void batchNormStatistics<T>(const T*, double*, i64, i64, i64, cudaStream_t);                           \
  template void batchNormForwardFromStatistics<T>(double, double, const T*, const T*, const T*, T*, T*,          \
                                                  const double*, T*, T*, T*, i64, i64, i64, cudaStream_t);        \
  template void batchNormBackwardFromSums<T>(const T*, const T*, const T*, const T*, const T*, const T*, const double*, \
                                             T*, i64, i64, i64, cudaStream_t);
KAON_INSTANTIATE(float)
KAON_INSTANTIATE(double)
#undef KAON_INSTANTIATE

}  // namespace kaon::ops::cuda
