// Batch normalisation over [N, C, inner] in three phases, so that a layer with few channels
// still fills the GPU (one block per channel, the first version, ran 8 blocks for the 3DGAN's
// 8-channel layers: 77 ms of its 192 ms bf16 step on an H200, docs/perf-notes.md section 12):
//   1. partial sums per (slice, channel): every channel's N*inner values are cut into `slices`
//      contiguous ranges, one block each, summed in double;
//   2. per channel, the partials summed in a fixed order (deterministic) into the statistics and
//      the per-channel coefficients of the element-wise pass;
//   3. one element-wise pass: y = a[c]*x + b[c] (forward) or dx = a[c]*dy + b[c]*x + d[c].
#include "cuda_common.cuh"
#include "cuda_launch.hpp"

namespace kaon::ops::cuda {
namespace {

constexpr i64 kPerSlice = 16384;   // values per block of phase 1 (enough work to hide latency)
constexpr i64 kMaxBlocks = 2048;   // phase-1 blocks over all channels: a few waves on 132 SMs

struct Dims {
  i64 N, C, inner, slices;
};

i64 slicesFor(i64 N, i64 C, i64 inner) {
  const i64 m = N * inner, want = (m + kPerSlice - 1) / kPerSlice, cap = kMaxBlocks / (C > 0 ? C : 1);
  return want < 1 ? 1 : want < cap ? want : (cap < 1 ? 1 : cap);
}

// Calls f(index into the [N, C, inner] buffer) for this block's slice of channel c, with the
// block's threads striding over contiguous runs (coalesced when inner is large).
template <class F>
__device__ void forSlice(const Dims& d, i64 c, i64 slice, F f) {
  const i64 m = d.N * d.inner, len = (m + d.slices - 1) / d.slices;
  const i64 begin = slice * len, end = begin + len < m ? begin + len : m;
  if (d.inner >= 64) {
    for (i64 k = begin; k < end;) {
      const i64 n = k / d.inner, i0 = k - n * d.inner, run = (n + 1) * d.inner < end ? (n + 1) * d.inner - k : end - k;
      const i64 base = (n * d.C + c) * d.inner + i0;
      for (i64 i = threadIdx.x; i < run; i += blockDim.x) f(base + i);
      k += run;
    }
  } else {
    for (i64 k = begin + threadIdx.x; k < end; k += blockDim.x) {
      const i64 n = k / d.inner;
      f((n * d.C + c) * d.inner + (k - n * d.inner));
    }
  }
}

// Phase 1. mean/invStd null: sums of x and x^2; else sums of dy and dy * xhat.
template <class T>
__global__ void partialSumsKernel(const T* x, const T* dy, const T* mean, const T* invStd, double* part, Dims d) {
  const i64 c = blockIdx.y, slice = blockIdx.x;
  double s1 = 0, s2 = 0;
  if (!dy) {
    forSlice(d, c, slice, [&](i64 k) {
      const double v = x[k];
      s1 += v;
      s2 += v * v;
    });
  } else {
    const double m = mean[c], is = invStd[c];
    forSlice(d, c, slice, [&](i64 k) {
      const double g = dy[k];
      s1 += g;
      s2 += g * (static_cast<double>(x[k]) - m) * is;
    });
  }
  s1 = blockSum(s1);
  s2 = blockSum(s2);
  if (threadIdx.x == 0) {
    part[(c * d.slices + slice) * 2] = s1;
    part[(c * d.slices + slice) * 2 + 1] = s2;
  }
}

__device__ void channelSums(const double* part, i64 c, i64 slices, double& s1, double& s2) {
  s1 = 0, s2 = 0;
  for (i64 s = 0; s < slices; ++s) s1 += part[(c * slices + s) * 2], s2 += part[(c * slices + s) * 2 + 1];
}

// Phase 2 of the forward pass, one thread per channel: statistics from the partial sums
// (training), the running averages (eval) or the cross-replica sums `stats` [2C + 1].
// coef [2C]: y = coef[c] * x + coef[C + c].
template <class T>
__global__ void forwardCoefficientsKernel(bool training, double momentum, double eps, const double* part,
                                          const double* stats, const T* gamma, const T* beta, T* runningMean,
                                          T* runningVar, T* saveMean, T* saveInvStd, double* coef, Dims d) {
  const i64 c = blockIdx.x * static_cast<i64>(blockDim.x) + threadIdx.x;
  if (c >= d.C) return;
  double mean, var;
  bool update = training;
  if (stats) {
    const double m = stats[2 * d.C];
    mean = stats[c] / m, var = fmax(0.0, stats[d.C + c] / m - mean * mean);
  } else if (training) {
    double s1, s2;
    channelSums(part, c, d.slices, s1, s2);
    const double m = static_cast<double>(d.N * d.inner);
    mean = s1 / m, var = fmax(0.0, s2 / m - mean * mean);
  } else {
    mean = runningMean[c], var = runningVar[c];
  }
  const double invStd = 1.0 / sqrt(var + eps);
  if (saveMean) saveMean[c] = static_cast<T>(mean);
  if (saveInvStd) saveInvStd[c] = static_cast<T>(invStd);
  if (update && runningMean) {
    const double m = stats ? stats[2 * d.C] : static_cast<double>(d.N * d.inner);
    const double unbiased = m > 1 ? var * m / (m - 1) : var;
    runningMean[c] = static_cast<T>(momentum * static_cast<double>(runningMean[c]) + (1.0 - momentum) * mean);
    runningVar[c] = static_cast<T>(momentum * static_cast<double>(runningVar[c]) + (1.0 - momentum) * unbiased);
  }
  const double g = gamma ? static_cast<double>(gamma[c]) : 1.0, b = beta ? static_cast<double>(beta[c]) : 0.0;
  coef[c] = g * invStd;
  coef[d.C + c] = b - mean * g * invStd;
}

// Phase 2 of the backward pass: sums (sum dy, sum dy*xhat) from the partials or, for the
// cross-replica version, given (`sums` [2C], over `count` values); dgamma/dbeta accumulated with
// betaAcc when requested. coef [3C]: dx = coef[c]*dy + coef[C+c]*x + coef[2C+c].
template <class T>
__global__ void backwardCoefficientsKernel(bool training, const double* part, const T* sums, const double* stats,
                                           const T* gamma, const T* saveMean, const T* saveInvStd, T* dgamma,
                                           T* dbeta, double betaAcc, double* coef, Dims d) {
  const i64 c = blockIdx.x * static_cast<i64>(blockDim.x) + threadIdx.x;
  if (c >= d.C) return;
  double sdy, sdyx, count;
  if (sums) {
    sdy = static_cast<double>(sums[c]), sdyx = static_cast<double>(sums[d.C + c]), count = stats[2 * d.C];
  } else {
    channelSums(part, c, d.slices, sdy, sdyx);
    count = static_cast<double>(d.N * d.inner);
  }
  if (dgamma) dgamma[c] = static_cast<T>(sdyx + (betaAcc == 0.0 ? 0.0 : betaAcc * static_cast<double>(dgamma[c])));
  if (dbeta) dbeta[c] = static_cast<T>(sdy + (betaAcc == 0.0 ? 0.0 : betaAcc * static_cast<double>(dbeta[c])));
  const double mean = saveMean[c], invStd = saveInvStd[c], g = gamma ? static_cast<double>(gamma[c]) : 1.0;
  const double a = g * invStd;
  // Training: the batch statistics depend on x; eval: they are constants, dx = g * invStd * dy.
  const double bx = training ? -a * invStd * sdyx / count : 0.0;
  coef[c] = a;
  coef[d.C + c] = bx;
  coef[2 * d.C + c] = training ? -a * sdy / count - bx * mean : 0.0;
}

// Phase 3: out = coef[c]*in + coef[C+c] (+ coef[2C+c]*x with x non-null: dx = a*dy + b*x + d).
template <class T>
__global__ void affineKernel(const T* in, const T* x, T* out, const double* coef, Dims d) {
  auto apply = [&](i64 k, i64 c) {
    double v = coef[c] * static_cast<double>(in[k]);
    if (x) v += coef[d.C + c] * static_cast<double>(x[k]) + coef[2 * d.C + c];
    else v += coef[d.C + c];
    out[k] = static_cast<T>(v);
  };
  if (d.inner >= 64) {  // grid (blocks over inner, planes)
    for (i64 p = blockIdx.y; p < d.N * d.C; p += gridDim.y)
      for (i64 i = blockIdx.x * static_cast<i64>(blockDim.x) + threadIdx.x; i < d.inner;
           i += static_cast<i64>(blockDim.x) * gridDim.x)
        apply(p * d.inner + i, p % d.C);
  } else {
    KAON_GRID_STRIDE(k, d.N * d.C * d.inner) apply(k, k / d.inner % d.C);
  }
}

Dims dims(i64 N, i64 C, i64 inner) { return Dims{N, C, inner, slicesFor(N, C, inner)}; }

dim3 sliceGrid(const Dims& d) { return dim3(static_cast<unsigned>(d.slices), static_cast<unsigned>(d.C)); }

template <class T>
void affine(const T* in, const T* x, T* out, const double* coef, const Dims& d, cudaStream_t s) {
  if (d.inner >= 64) {
    const i64 perPlane = (d.inner + kThreads - 1) / kThreads, planes = d.N * d.C;
    const dim3 grid(static_cast<unsigned>(perPlane < 64 ? perPlane : 64), static_cast<unsigned>(planes < 65535 ? planes : 65535));
    affineKernel<<<grid, kThreads, 0, s>>>(in, x, out, coef, d);
  } else {
    affineKernel<<<gridFor(d.N * d.C * d.inner), kThreads, 0, s>>>(in, x, out, coef, d);
  }
}

unsigned channelBlocks(i64 C) { return static_cast<unsigned>((C + kThreads - 1) / kThreads); }

}  // namespace

i64 batchNormScratch(i64 N, i64 C, i64 inner) { return 2 * C * slicesFor(N, C, inner) + 3 * C; }

template <class T>
void batchNormForward(bool training, double momentum, double eps, const T* x, const T* gamma, const T* beta,
                      T* runningMean, T* runningVar, T* y, T* saveMean, T* saveInvStd, i64 N, i64 C, i64 inner,
                      double* scratch, cudaStream_t s) {
  if (C <= 0 || N * inner <= 0) return;
  const Dims d = dims(N, C, inner);
  double *part = scratch, *coef = scratch + 2 * C * d.slices;
  if (training)
    partialSumsKernel<T><<<sliceGrid(d), kThreads, 0, s>>>(x, nullptr, nullptr, nullptr, part, d);
  forwardCoefficientsKernel<T><<<channelBlocks(C), kThreads, 0, s>>>(training, momentum, eps, part, nullptr, gamma, beta,
                                                                     runningMean, runningVar, saveMean, saveInvStd, coef, d);
  affine<T>(x, nullptr, y, coef, d, s);
}

template <class T>
void batchNormBackward(bool training, const T* x, const T* dy, const T* gamma, const T* saveMean, const T* saveInvStd,
                       T* dx, T* dgamma, T* dbeta, double betaAcc, i64 N, i64 C, i64 inner, double* scratch,
                       cudaStream_t s) {
  if (C <= 0 || N * inner <= 0) return;
  const Dims d = dims(N, C, inner);
  double *part = scratch, *coef = scratch + 2 * C * d.slices;
  partialSumsKernel<T><<<sliceGrid(d), kThreads, 0, s>>>(x, dy, saveMean, saveInvStd, part, d);
  backwardCoefficientsKernel<T><<<channelBlocks(C), kThreads, 0, s>>>(training, part, nullptr, nullptr, gamma, saveMean,
                                                                      saveInvStd, dgamma, dbeta, betaAcc, coef, d);
  if (dx) affine<T>(dy, x, dx, coef, d, s);
}

// stats [2C + 1]: sum x, sum x^2 per channel, then the count.
namespace {
__global__ void statisticsKernel(const double* part, double* stats, Dims d) {
  const i64 c = blockIdx.x * static_cast<i64>(blockDim.x) + threadIdx.x;
  if (c >= d.C) return;
  channelSums(part, c, d.slices, stats[c], stats[d.C + c]);
  if (c == 0) stats[2 * d.C] = static_cast<double>(d.N * d.inner);
}
}  // namespace

template <class T>
void batchNormStatistics(const T* x, double* stats, i64 N, i64 C, i64 inner, double* scratch, cudaStream_t s) {
  if (C <= 0) return;
  const Dims d = dims(N, C, inner);
  if (N * inner <= 0) {
    cudaMemsetAsync(stats, 0, sizeof(double) * (2 * C + 1), s);
    return;
  }
  partialSumsKernel<T><<<sliceGrid(d), kThreads, 0, s>>>(x, nullptr, nullptr, nullptr, scratch, d);
  statisticsKernel<<<channelBlocks(C), kThreads, 0, s>>>(scratch, stats, d);
}

template <class T>
void batchNormForwardFromStatistics(double momentum, double eps, const T* x, const T* gamma, const T* beta,
                                    T* runningMean, T* runningVar, const double* stats, T* y, T* saveMean,
                                    T* saveInvStd, i64 N, i64 C, i64 inner, double* scratch, cudaStream_t s) {
  if (C <= 0 || N * inner <= 0) return;
  const Dims d = dims(N, C, inner);
  double* coef = scratch + 2 * C * d.slices;
  forwardCoefficientsKernel<T><<<channelBlocks(C), kThreads, 0, s>>>(true, momentum, eps, nullptr, stats, gamma, beta,
                                                                     runningMean, runningVar, saveMean, saveInvStd, coef, d);
  affine<T>(x, nullptr, y, coef, d, s);
}

template <class T>
void batchNormBackwardFromSums(const T* x, const T* dy, const T* gamma, const T* saveMean, const T* saveInvStd,
                               const T* sums, const double* stats, T* dx, i64 N, i64 C, i64 inner, double* scratch,
                               cudaStream_t s) {
  if (C <= 0 || N * inner <= 0) return;
  const Dims d = dims(N, C, inner);
  double* coef = scratch + 2 * C * d.slices;
  backwardCoefficientsKernel<T><<<channelBlocks(C), kThreads, 0, s>>>(true, nullptr, sums, stats, gamma, saveMean,
                                                                      saveInvStd, nullptr, nullptr, 0.0, coef, d);
  affine<T>(dy, x, dx, coef, d, s);
}

// Batch norm: float and double only (statistics of a mixed-precision model stay in fp32).
#define KAON_INSTANTIATE(T)                                                                                          \
  template void batchNormForward<T>(bool, double, double, const T*, const T*, const T*, T*, T*, T*, T*, T*, i64, i64, \
                                    i64, double*, cudaStream_t);                                                     \
  template void batchNormBackward<T>(bool, const T*, const T*, const T*, const T*, const T*, T*, T*, T*, double, i64, \
                                     i64, i64, double*, cudaStream_t);                                               \
  template void batchNormStatistics<T>(const T*, double*, i64, i64, i64, double*, cudaStream_t);                     \
  template void batchNormForwardFromStatistics<T>(double, double, const T*, const T*, const T*, T*, T*, const double*, \
                                                  T*, T*, T*, i64, i64, i64, double*, cudaStream_t);                 \
  template void batchNormBackwardFromSums<T>(const T*, const T*, const T*, const T*, const T*, const T*,              \
                                             const double*, T*, i64, i64, i64, double*, cudaStream_t);
KAON_INSTANTIATE(float)
KAON_INSTANTIATE(double)
#undef KAON_INSTANTIATE

}  // namespace kaon::ops::cuda
