// Upsampling and concat/split copies along an axis.
#include "cuda_common.cuh"
#include "cuda_launch.hpp"

namespace kaon::ops::cuda {
namespace {

struct Up {
  std::int64_t in[3], out[3];
  int f[3];
};

// One thread per element of y [planes, out]; index arithmetic in I (32-bit when it fits).
template <class T, class I>
__global__ void upsampleForwardKernel(const T* x, T* y, Up u, I n) {
  const I o1 = static_cast<I>(u.out[1]), o2 = static_cast<I>(u.out[2]), o0 = static_cast<I>(u.out[0]);
  const I i0 = static_cast<I>(u.in[0]), i1 = static_cast<I>(u.in[1]), i2 = static_cast<I>(u.in[2]);
  const I f0 = static_cast<I>(u.f[0]), f1 = static_cast<I>(u.f[1]), f2 = static_cast<I>(u.f[2]);
  for (I k = blockIdx.x * blockDim.x + threadIdx.x; k < n; k += blockDim.x * gridDim.x) {
    const I row = k / o2, ox = k - row * o2, plane = row / o1, oy = row - plane * o1, p = plane / o0, oz = plane - p * o0;
    y[k] = x[((p * i0 + oz / f0) * i1 + oy / f1) * i2 + ox / f2];
  }
}

// One thread per element of dx [planes, in].
template <class T, class I>
__global__ void upsampleBackwardKernel(const T* dy, T* dx, double beta, Up u, I n) {
  const I o1 = static_cast<I>(u.out[1]), o2 = static_cast<I>(u.out[2]), o0 = static_cast<I>(u.out[0]);
  const I i0 = static_cast<I>(u.in[0]), i1 = static_cast<I>(u.in[1]), i2 = static_cast<I>(u.in[2]);
  const int f0 = u.f[0], f1 = u.f[1], f2 = u.f[2];
  for (I k = blockIdx.x * blockDim.x + threadIdx.x; k < n; k += blockDim.x * gridDim.x) {
    const I row = k / i2, ix = k - row * i2, plane = row / i1, iy = row - plane * i1, p = plane / i0, iz = plane - p * i0;
    double acc = 0;
    for (int a = 0; a < f0; ++a)
      for (int b = 0; b < f1; ++b) {
        const I base = ((p * o0 + iz * f0 + a) * o1 + iy * f1 + b) * o2 + ix * f2;
        for (int c = 0; c < f2; ++c) acc += ld(dy[base + c]);
      }
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

Up upDims(const Geom3& g, const int f[3]) {
  Up u{};
  for (int a = 0; a < 3; ++a) u.in[a] = g.in[a], u.out[a] = g.out[a], u.f[a] = f[a];
  return u;
}

}  // namespace

template <class T>
void upsampleForward(const T* x, T* y, const Geom3& g, const int f[3], cudaStream_t s) {
  i64 n = g.planes * g.out[0] * g.out[1] * g.out[2];
  const i64 in = g.planes * g.in[0] * g.in[1] * g.in[2];
  if (n == 0) return;
  if (fits32(n, in)) upsampleForwardKernel<T, unsigned><<<gridFor(n), kThreads, 0, s>>>(x, y, upDims(g, f), static_cast<unsigned>(n));
  else upsampleForwardKernel<T, std::uint64_t><<<gridFor(n), kThreads, 0, s>>>(x, y, upDims(g, f), static_cast<std::uint64_t>(n));
}
template <class T>
void upsampleBackward(const T* dy, T* dx, double beta, const Geom3& g, const int f[3], cudaStream_t s) {
  i64 n = g.planes * g.in[0] * g.in[1] * g.in[2];
  const i64 out = g.planes * g.out[0] * g.out[1] * g.out[2];
  if (n == 0) return;
  if (fits32(n, out))
    upsampleBackwardKernel<T, unsigned><<<gridFor(n), kThreads, 0, s>>>(dy, dx, beta, upDims(g, f), static_cast<unsigned>(n));
  else
    upsampleBackwardKernel<T, std::uint64_t><<<gridFor(n), kThreads, 0, s>>>(dy, dx, beta, upDims(g, f),
                                                                             static_cast<std::uint64_t>(n));
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
#define KAON_INSTANTIATE_COPIES(T)                                                                                \
  template void sumMiddleForward<T>(const T*, T*, i64, i64, i64, cudaStream_t);                                   \
  template void sumMiddleBackward<T>(const T*, T*, double, i64, i64, i64, cudaStream_t);                          \
  template void upsampleForward<T>(const T*, T*, const Geom3&, const int*, cudaStream_t);                         \
  template void upsampleBackward<T>(const T*, T*, double, const Geom3&, const int*, cudaStream_t);                \
  template void copyIntoAxis<T>(const T*, T*, i64, i64, i64, i64, i64, cudaStream_t);                             \
  template void copyFromAxis<T>(const T*, T*, i64, i64, i64, i64, i64, double, cudaStream_t);
KAON_FOR_ALL_FLOAT_TYPES(KAON_INSTANTIATE_COPIES)
#undef KAON_INSTANTIATE_COPIES

}  // namespace kaon::ops::cuda
