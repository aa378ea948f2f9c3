// Element-wise kernels, bias, softmax, reductions and zero padding (compute stream of the caller).
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "cuda_common.cuh"
#include "cuda_launch.hpp"

namespace kaon::ops::cuda {
namespace {

__device__ inline double activate(Activation kind, double alpha, double x) {
  switch (kind) {
    case Activation::Identity: return x;
    case Activation::Relu: return x > 0 ? x : 0.0;
    case Activation::LeakyRelu: return x > 0 ? x : alpha * x;
    case Activation::Sigmoid: return 1.0 / (1.0 + exp(-x));
    case Activation::Tanh: return tanh(x);
    case Activation::Elu: return x > 0 ? x : alpha * (exp(x) - 1.0);
  }
  return 0;
}

__device__ inline float activate(Activation kind, float alpha, float x) {
  switch (kind) {
    case Activation::Identity: return x;
    case Activation::Relu: return x > 0 ? x : 0.0f;
    case Activation::LeakyRelu: return x > 0 ? x : alpha * x;
    case Activation::Sigmoid: return 1.0f / (1.0f + expf(-x));
    case Activation::Tanh: return tanhf(x);
    case Activation::Elu: return x > 0 ? x : alpha * expm1f(x);
  }
  return 0;
}

template <class T>
__device__ inline T derivative(Activation kind, T alpha, T x) {
  switch (kind) {
    case Activation::Identity: return T(1);
    case Activation::Relu: return x > 0 ? T(1) : T(0);
    case Activation::LeakyRelu: return x > 0 ? T(1) : alpha;
    case Activation::Sigmoid: {
      T s = activate(Activation::Sigmoid, alpha, x);
      return s * (T(1) - s);
    }
    case Activation::Tanh: {
      T t = activate(Activation::Tanh, alpha, x);
      return T(1) - t * t;
    }
    case Activation::Elu: return x > 0 ? T(1) : alpha * exp(x);
  }
  return T(0);
}

template <class T>
__global__ void biasAddKernel(T* y, const T* b, std::int64_t C, std::int64_t inner, std::int64_t n) {
  KAON_GRID_STRIDE(i, n) y[i] = st<T>(ld(y[i]) + ld(b[(i / inner) % C]));
}

// 16-bit types: eight values per thread through one 128-bit access (2-byte accesses leave most
// of the memory pipeline idle).
template <class T>
struct alignas(16) Pack {
  static constexpr int kN = 16 / sizeof(T);
  T v[kN];
};

template <class T>
__global__ void activationBackwardPackKernel(Activation kind, Acc<T> alpha, const Pack<T>* x, const Pack<T>* dy,
                                             Pack<T>* dx, Acc<T> beta, std::int64_t n) {
  KAON_GRID_STRIDE(i, n) {
    const Pack<T> xv = x[i], dv = dy[i];
    Pack<T> out;
    if (beta != Acc<T>(0)) out = dx[i];
#pragma unroll
    for (int j = 0; j < Pack<T>::kN; ++j) {
      Acc<T> d = derivative(kind, alpha, ld(xv.v[j])) * ld(dv.v[j]);
      out.v[j] = st<T>(beta == Acc<T>(0) ? d : d + beta * ld(out.v[j]));
    }
    dx[i] = out;
  }
}

// inner % Pack::kN == 0: the values of a pack share one channel.
template <class T>
__global__ void biasActivationPackKernel(Pack<T>* y, const T* b, Activation kind, Acc<T> alpha, int C, int innerPacks,
                                         int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    const Acc<T> bc = b ? ld(b[(i / innerPacks) % C]) : Acc<T>(0);
    Pack<T> v = y[i];
#pragma unroll
    for (int j = 0; j < Pack<T>::kN; ++j) v.v[j] = st<T>(activate(kind, alpha, ld(v.v[j]) + bc));
    y[i] = v;
  }
}

// Bias gradient, deterministic in two passes: block (c, chunk) sums channel c over a slice of
// the batch into partial[c * chunks + chunk] (rows of `inner` contiguous values, read without
// index division when inner >= 32), then one thread per channel adds its partials in order.
template <class T>
__global__ void biasPartialKernel(const T* dy, double* partial, std::int64_t N, std::int64_t C, std::int64_t inner,
                                  std::int64_t chunks) {
  const std::int64_t c = blockIdx.x / chunks, chunk = blockIdx.x % chunks;
  const std::int64_t n0 = N * chunk / chunks, n1 = N * (chunk + 1) / chunks;
  double acc = 0;
  if (inner >= 32) {
    for (std::int64_t n = n0; n < n1; ++n) {
      const T* row = dy + (n * C + c) * inner;
#pragma unroll 4
      for (std::int64_t i = threadIdx.x; i < inner; i += blockDim.x) acc += ld(row[i]);
    }
  } else {
    const int count = static_cast<int>((n1 - n0) * inner), in = static_cast<int>(inner);
    for (int k = threadIdx.x; k < count; k += blockDim.x) acc += ld(dy[((n0 + k / in) * C + c) * inner + k % in]);
  }
  acc = blockSum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

template <class T>
__global__ void biasFinishKernel(const double* partial, T* db, double beta, std::int64_t C, std::int64_t chunks) {
  KAON_GRID_STRIDE(c, C) {
    double acc = 0;
    for (std::int64_t k = 0; k < chunks; ++k) acc += partial[c * chunks + k];
    db[c] = st<T>(acc + (beta == 0.0 ? 0.0 : beta * ld(db[c])));
  }
}

// y = act(y + b[c]) in place over [N, C, inner] (the epilogue of the fused convolution); b may
// be null. Index type I: int when every index fits (cheaper division).
template <class T, class I>
__global__ void biasActivationKernel(T* y, const T* b, Activation kind, Acc<T> alpha, I C, I inner, I n) {
  for (I i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    Acc<T> v = ld(y[i]);
    if (b) v += ld(b[(i / inner) % C]);
    y[i] = st<T>(activate(kind, alpha, v));
  }
}

__global__ void biasActivationVec4Kernel(float4* y, const float* b, Activation kind, float alpha, int C, int inner4,
                                         int n4) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += blockDim.x * gridDim.x) {
    const float bc = b ? b[(i / inner4) % C] : 0.0f;
    float4 v = y[i];
    v.x = activate(kind, alpha, v.x + bc), v.y = activate(kind, alpha, v.y + bc);
    v.z = activate(kind, alpha, v.z + bc), v.w = activate(kind, alpha, v.w + bc);
    y[i] = v;
  }
}

template <class T>
__global__ void activationForwardKernel(Activation kind, Acc<T> alpha, const T* x, T* y, std::int64_t n) {
  KAON_GRID_STRIDE(i, n) y[i] = st<T>(activate(kind, alpha, ld(x[i])));
}

// FP32 fast paths: 128-bit loads and stores (4 floats per thread) when sizes and alignment allow.
__global__ void activationForwardVec4Kernel(Activation kind, float alpha, const float4* x, float4* y, std::int64_t n4) {
  KAON_GRID_STRIDE(i, n4) {
    float4 v = x[i];
    v.x = activate(kind, alpha, v.x), v.y = activate(kind, alpha, v.y);
    v.z = activate(kind, alpha, v.z), v.w = activate(kind, alpha, v.w);
    y[i] = v;
  }
}

// inner % 4 == 0: the four floats of a vector share one channel.
__global__ void biasAddVec4Kernel(float4* y, const float* b, std::int64_t C, std::int64_t inner4, std::int64_t n4) {
  KAON_GRID_STRIDE(i, n4) {
    float bc = b[(i / inner4) % C];
    float4 v = y[i];
    v.x += bc, v.y += bc, v.z += bc, v.w += bc;
    y[i] = v;
  }
}

inline bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

template <class T>
__global__ void activationBackwardKernel(Activation kind, Acc<T> alpha, const T* x, const T* dy, T* dx, Acc<T> beta,
                                         std::int64_t n) {
  KAON_GRID_STRIDE(i, n) {
    Acc<T> d = derivative(kind, alpha, ld(x[i])) * ld(dy[i]);
    dx[i] = st<T>(beta == Acc<T>(0) ? d : d + beta * ld(dx[i]));
  }
}

// One thread per (n, inner) position, looping over C.
template <class T>
__global__ void softmaxForwardKernel(const T* x, T* y, std::int64_t N, std::int64_t C, std::int64_t inner) {
  KAON_GRID_STRIDE(k, N * inner) {
    std::int64_t n = k / inner, i = k % inner;
    const T* xp = x + n * C * inner + i;
    T* yp = y + n * C * inner + i;
    double mx = -INFINITY, total = 0;
    for (std::int64_t c = 0; c < C; ++c) mx = fmax(mx, static_cast<double>(ld(xp[c * inner])));
    for (std::int64_t c = 0; c < C; ++c) total += exp(static_cast<double>(ld(xp[c * inner])) - mx);
    for (std::int64_t c = 0; c < C; ++c) yp[c * inner] = st<T>(exp(static_cast<double>(ld(xp[c * inner])) - mx) / total);
  }
}

template <class T>
__global__ void softmaxBackwardKernel(const T* y, const T* dy, T* dx, double beta, std::int64_t N, std::int64_t C,
                                      std::int64_t inner) {
  KAON_GRID_STRIDE(k, N * inner) {
    std::int64_t base = (k / inner) * C * inner + k % inner;
    double dot = 0;
    for (std::int64_t c = 0; c < C; ++c) dot += static_cast<double>(ld(y[base + c * inner])) * ld(dy[base + c * inner]);
    for (std::int64_t c = 0; c < C; ++c) {
      std::int64_t at = base + c * inner;
      double v = ld(y[at]) * (ld(dy[at]) - dot);
      dx[at] = st<T>(beta == 0.0 ? v : v + beta * ld(dx[at]));
    }
  }
}

// inner == 1 (classifier logits [N, C]): one block per row, coalesced over C.
template <class T>
__global__ void softmaxRowsForwardKernel(const T* x, T* y, std::int64_t C) {
  const T* xr = x + blockIdx.x * C;
  T* yr = y + blockIdx.x * C;
  double mx = -INFINITY;
  for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) mx = fmax(mx, static_cast<double>(ld(xr[c])));
  mx = blockMax(mx);
  double total = 0;
  for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) total += exp(static_cast<double>(ld(xr[c])) - mx);
  total = blockSum(total);
  for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) yr[c] = st<T>(exp(static_cast<double>(ld(xr[c])) - mx) / total);
}

template <class T>
__global__ void softmaxRowsBackwardKernel(const T* y, const T* dy, T* dx, double beta, std::int64_t C) {
  const std::int64_t base = blockIdx.x * C;
  double dot = 0;
  for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) dot += static_cast<double>(ld(y[base + c])) * ld(dy[base + c]);
  dot = blockSum(dot);
  for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    double v = ld(y[base + c]) * (ld(dy[base + c]) - dot);
    dx[base + c] = st<T>(beta == 0.0 ? v : v + beta * ld(dx[base + c]));
  }
}

template <class T>
__global__ void axpbyKernel(Acc<T> alpha, const T* a, Acc<T> beta, const T* b, T* out, std::int64_t n) {
  KAON_GRID_STRIDE(i, n) out[i] = st<T>(alpha * ld(a[i]) + beta * ld(b[i]));
}

template <class T>
__global__ void mulKernel(const T* a, const T* b, T* out, std::int64_t n) {
  KAON_GRID_STRIDE(i, n) out[i] = st<T>(ld(a[i]) * ld(b[i]));
}

template <class T>
__global__ void partialSumKernel(const T* x, std::int64_t n, bool squares, double* partials) {
  double acc = 0;
  KAON_GRID_STRIDE(i, n) {
    double v = ld(x[i]);
    acc += squares ? v * v : v;
  }
  acc = blockSum(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

__global__ void finalSumKernel(const double* partials, int count, double* result) {
  double acc = 0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
  acc = blockSum(acc);
  if (threadIdx.x == 0) *result = acc;
}

struct PadDims {
  std::int64_t in[3], out[3];
  int before[3];
};

// Index arithmetic in I: 32-bit whenever every index fits (the usual case), because 64-bit
// division costs several times more and made these copies ALU-bound (docs/perf-notes.md §12).
// One division per element for the row, the row's coordinates from it.

// One thread per output element of y [planes, out]: zero or the matching input.
template <class T, class I>
__global__ void padForwardKernel(const T* x, T* y, PadDims d, I n) {
  const I o0 = static_cast<I>(d.out[0]), o1 = static_cast<I>(d.out[1]), o2 = static_cast<I>(d.out[2]);
  const I i0 = static_cast<I>(d.in[0]), i1 = static_cast<I>(d.in[1]), i2 = static_cast<I>(d.in[2]);
  for (I k = blockIdx.x * blockDim.x + threadIdx.x; k < n; k += blockDim.x * gridDim.x) {
    const I row = k / o2, ox = k - row * o2, plane = row / o1, oy = row - plane * o1, p = plane / o0, oz = plane - p * o0;
    const I b0 = static_cast<I>(d.before[0]), b1 = static_cast<I>(d.before[1]), b2 = static_cast<I>(d.before[2]);
    const bool inside = ox >= b2 && ox - b2 < i2 && oy >= b1 && oy - b1 < i1 && oz >= b0 && oz - b0 < i0;
    const I ix = ox - b2, iy = oy - b1, iz = oz - b0;
    y[k] = inside ? x[((p * i0 + iz) * i1 + iy) * i2 + ix] : st<T>(0.0f);
  }
}

// One thread per element of dx [planes, in].
template <class T, class I>
__global__ void padBackwardKernel(const T* dy, T* dx, double beta, PadDims d, I n) {
  const I o0 = static_cast<I>(d.out[0]), o1 = static_cast<I>(d.out[1]), o2 = static_cast<I>(d.out[2]);
  const I i0 = static_cast<I>(d.in[0]), i1 = static_cast<I>(d.in[1]), i2 = static_cast<I>(d.in[2]);
  for (I k = blockIdx.x * blockDim.x + threadIdx.x; k < n; k += blockDim.x * gridDim.x) {
    const I row = k / i2, ix = k - row * i2, plane = row / i1, iy = row - plane * i1, p = plane / i0, iz = plane - p * i0;
    T v = dy[((p * o0 + iz + static_cast<I>(d.before[0])) * o1 + iy + static_cast<I>(d.before[1])) * o2 + ix +
             static_cast<I>(d.before[2])];
    dx[k] = beta == 0.0 ? v : st<T>(ld(v) + beta * ld(dx[k]));
  }
}

PadDims padDims(const Geom3& g, const int before[3]) {
  PadDims d{};
  for (int a = 0; a < 3; ++a) d.in[a] = g.in[a], d.out[a] = g.out[a], d.before[a] = before[a];
  return d;
}

}  // namespace

template <class T>
void biasAdd(T* y, const T* b, i64 N, i64 C, i64 inner, cudaStream_t s) {
  i64 n = N * C * inner;
  if (n == 0) return;
  if constexpr (std::is_same_v<T, float>) {
    if (inner % 4 == 0 && aligned16(y)) {
      biasAddVec4Kernel<<<gridFor(n / 4), kThreads, 0, s>>>(reinterpret_cast<float4*>(y), b, C, inner / 4, n / 4);
      return;
    }
  }
  biasAddKernel<<<gridFor(n), kThreads, 0, s>>>(y, b, C, inner, n);
}
i64 biasBackwardChunks(i64 N, i64 C) {
  const i64 chunks = (2048 + C - 1) / std::max<i64>(C, 1);  // ~2048 blocks in all
  return std::max<i64>(1, std::min(chunks, N));
}
template <class T>
void biasBackward(const T* dy, T* db, double beta, i64 N, i64 C, i64 inner, double* scratch, cudaStream_t s) {
  if (C == 0) return;
  const i64 chunks = biasBackwardChunks(N, C);
  biasPartialKernel<<<static_cast<unsigned>(C * chunks), kThreads, 0, s>>>(dy, scratch, N, C, inner, chunks);
  biasFinishKernel<<<gridFor(C), kThreads, 0, s>>>(scratch, db, beta, C, chunks);
}
template <class T>
void biasActivation(T* y, const T* b, Activation kind, double alpha, i64 N, i64 C, i64 inner, cudaStream_t s) {
  const i64 n = N * C * inner;
  if (n == 0) return;
  if (n < 2147483647LL / 2) {
    if constexpr (std::is_same_v<T, float>) {
      if (inner % 4 == 0 && aligned16(y)) {
        biasActivationVec4Kernel<<<gridFor(n / 4), kThreads, 0, s>>>(reinterpret_cast<float4*>(y), b, kind,
                                                                     static_cast<float>(alpha), static_cast<int>(C),
                                                                     static_cast<int>(inner / 4), static_cast<int>(n / 4));
        return;
      }
    }
    if constexpr (sizeof(T) == 2) {
      constexpr int k = Pack<T>::kN;
      if (inner % k == 0 && aligned16(y)) {
        biasActivationPackKernel<<<gridFor(n / k), kThreads, 0, s>>>(
            reinterpret_cast<Pack<T>*>(y), b, kind, static_cast<Acc<T>>(alpha), static_cast<int>(C),
            static_cast<int>(inner / k), static_cast<int>(n / k));
        return;
      }
    }
    biasActivationKernel<T, int><<<gridFor(n), kThreads, 0, s>>>(y, b, kind, static_cast<Acc<T>>(alpha),
                                                                  static_cast<int>(C), static_cast<int>(inner),
                                                                  static_cast<int>(n));
  } else {
    biasActivationKernel<T, i64><<<gridFor(n), kThreads, 0, s>>>(y, b, kind, static_cast<Acc<T>>(alpha), C, inner, n);
  }
}
template <class T>
void activationForward(Activation kind, double alpha, const T* x, T* y, i64 n, cudaStream_t s) {
  if constexpr (std::is_same_v<T, float>) {
    if (n % 4 == 0 && aligned16(x) && aligned16(y)) {
      activationForwardVec4Kernel<<<gridFor(n / 4), kThreads, 0, s>>>(kind, static_cast<float>(alpha),
                                                                      reinterpret_cast<const float4*>(x),
                                                                      reinterpret_cast<float4*>(y), n / 4);
      return;
    }
  }
  activationForwardKernel<<<gridFor(n), kThreads, 0, s>>>(kind, static_cast<Acc<T>>(alpha), x, y, n);
}
template <class T>
void activationBackward(Activation kind, double alpha, const T* x, const T* dy, T* dx, double beta, i64 n,
                        cudaStream_t s) {
  if constexpr (sizeof(T) == 2) {
    constexpr int k = Pack<T>::kN;
    if (n % k == 0 && aligned16(x) && aligned16(dy) && aligned16(dx)) {
      activationBackwardPackKernel<<<gridFor(n / k), kThreads, 0, s>>>(
          kind, static_cast<Acc<T>>(alpha), reinterpret_cast<const Pack<T>*>(x), reinterpret_cast<const Pack<T>*>(dy),
          reinterpret_cast<Pack<T>*>(dx), static_cast<Acc<T>>(beta), n / k);
      return;
    }
  }
  activationBackwardKernel<<<gridFor(n), kThreads, 0, s>>>(kind, static_cast<Acc<T>>(alpha), x, dy, dx,
                                                            static_cast<Acc<T>>(beta), n);
}
template <class T>
void softmaxForward(const T* x, T* y, i64 N, i64 C, i64 inner, cudaStream_t s) {
  if (N == 0) return;
  if (inner == 1 && N <= 2147483647LL)
    softmaxRowsForwardKernel<<<static_cast<unsigned>(N), kThreads, 0, s>>>(x, y, C);
  else
    softmaxForwardKernel<<<gridFor(N * inner), kThreads, 0, s>>>(x, y, N, C, inner);
}
template <class T>
void softmaxBackward(const T* y, const T* dy, T* dx, double beta, i64 N, i64 C, i64 inner, cudaStream_t s) {
  if (N == 0) return;
  if (inner == 1 && N <= 2147483647LL)
    softmaxRowsBackwardKernel<<<static_cast<unsigned>(N), kThreads, 0, s>>>(y, dy, dx, beta, C);
  else
    softmaxBackwardKernel<<<gridFor(N * inner), kThreads, 0, s>>>(y, dy, dx, beta, N, C, inner);
}
template <class T>
void axpby(double alpha, const T* a, double beta, const T* b, T* out, i64 n, cudaStream_t s) {
  axpbyKernel<<<gridFor(n), kThreads, 0, s>>>(static_cast<Acc<T>>(alpha), a, static_cast<Acc<T>>(beta), b, out, n);
}
template <class T>
void mul(const T* a, const T* b, T* out, i64 n, cudaStream_t s) {
  mulKernel<<<gridFor(n), kThreads, 0, s>>>(a, b, out, n);
}
template <class T>
void reduceSum(const T* x, i64 n, bool squares, double* scratch, double* result, cudaStream_t s) {
  partialSumKernel<<<kReduceBlocks, kThreads, 0, s>>>(x, n, squares, scratch);
  finalSumKernel<<<1, kThreads, 0, s>>>(scratch, kReduceBlocks, result);
}
template <class T>
void padForward(const T* x, T* y, const Geom3& g, const int before[3], cudaStream_t s) {
  const i64 n = g.planes * g.out[0] * g.out[1] * g.out[2], in = g.planes * g.in[0] * g.in[1] * g.in[2];
  if (n == 0) return;
  if (fits32(n, in)) padForwardKernel<T, unsigned><<<gridFor(n), kThreads, 0, s>>>(x, y, padDims(g, before), static_cast<unsigned>(n));
  else padForwardKernel<T, std::uint64_t><<<gridFor(n), kThreads, 0, s>>>(x, y, padDims(g, before), static_cast<std::uint64_t>(n));
}
template <class T>
void padBackward(const T* dy, T* dx, double beta, const Geom3& g, const int before[3], cudaStream_t s) {
  const i64 n = g.planes * g.in[0] * g.in[1] * g.in[2], out = g.planes * g.out[0] * g.out[1] * g.out[2];
  if (n == 0) return;
  if (fits32(n, out))
    padBackwardKernel<T, unsigned><<<gridFor(n), kThreads, 0, s>>>(dy, dx, beta, padDims(g, before), static_cast<unsigned>(n));
  else
    padBackwardKernel<T, std::uint64_t><<<gridFor(n), kThreads, 0, s>>>(dy, dx, beta, padDims(g, before),
                                                                        static_cast<std::uint64_t>(n));
}

#define KAON_INSTANTIATE(T)                                                                              \
  template void biasAdd<T>(T*, const T*, i64, i64, i64, cudaStream_t);                                   \
  template void biasBackward<T>(const T*, T*, double, i64, i64, i64, double*, cudaStream_t);             \
  template void biasActivation<T>(T*, const T*, Activation, double, i64, i64, i64, cudaStream_t);        \
  template void activationForward<T>(Activation, double, const T*, T*, i64, cudaStream_t);               \
  template void activationBackward<T>(Activation, double, const T*, const T*, T*, double, i64, cudaStream_t); \
  template void softmaxForward<T>(const T*, T*, i64, i64, i64, cudaStream_t);                            \
  template void softmaxBackward<T>(const T*, const T*, T*, double, i64, i64, i64, cudaStream_t);         \
  template void axpby<T>(double, const T*, double, const T*, T*, i64, cudaStream_t);                     \
  template void mul<T>(const T*, const T*, T*, i64, cudaStream_t);                                       \
  template void reduceSum<T>(const T*, i64, bool, double*, double*, cudaStream_t);                       \
  template void padForward<T>(const T*, T*, const Geom3&, const int*, cudaStream_t);                     \
  template void padBackward<T>(const T*, T*, double, const Geom3&, const int*, cudaStream_t);
KAON_FOR_ALL_FLOAT_TYPES(KAON_INSTANTIATE)
#undef KAON_INSTANTIATE

}  // namespace kaon::ops::cuda
