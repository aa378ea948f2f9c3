// Kernels of the FFT convolution (conv_fft.hpp): packing into cuFFT's padded volumes, the
// per-frequency products, and unpacking with scale and beta.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "conv_fft_kernels.hpp"
#include "cuda_common.cuh"

namespace kaon::ops::cudak::fftconv {
namespace {

using kaon::ops::cuda::gridFor;
using kaon::ops::cuda::kThreads;
using kaon::ops::cuda::ld;
using kaon::ops::cuda::st;

struct Box {  // a plane's extent inside the volume (dims) and where it sits (offset)
  int d[3], o[3];
};

Box boxOf(const std::int64_t dims[3], const std::int64_t offset[3]) {
  Box b{};
  for (int a = 0; a < 3; ++a) b.d[a] = static_cast<int>(dims[a]), b.o[a] = static_cast<int>(offset[a]);
  return b;
}

// One thread per float of the destination volumes; neighbouring threads walk the last axis, so
// reads and writes are coalesced. Index arithmetic within a plane is 32-bit (a plane is far below
// 2^31 floats), one 64-bit division per element for the plane.
template <class T>
__global__ void packKernel(const T* src, Box b, std::int64_t valid, float* dst, int L1, int row, int planeFloats,
                           std::int64_t n) {
  const int planeSrc = b.d[0] * b.d[1] * b.d[2];
  KAON_GRID_STRIDE(e, n) {
    const std::int64_t plane = e / planeFloats;
    const int r = static_cast<int>(e - plane * planeFloats);
    const int i2 = r % row, t = r / row, i1 = t % L1, i0 = t / L1;
    const int s0 = i0 - b.o[0], s1 = i1 - b.o[1], s2 = i2 - b.o[2];
    float v = 0.f;
    if (plane < valid && s0 >= 0 && s0 < b.d[0] && s1 >= 0 && s1 < b.d[1] && s2 >= 0 && s2 < b.d[2])
      v = static_cast<float>(ld(src[plane * planeSrc + (s0 * b.d[1] + s1) * b.d[2] + s2]));
    dst[e] = v;
  }
}

template <class T>
__global__ void unpackKernel(const float* src, Box b, int L1, int row, int planeFloats, float alpha, float beta, T* dst,
                             std::int64_t n) {
  const int planeDst = b.d[0] * b.d[1] * b.d[2];
  KAON_GRID_STRIDE(e, n) {
    const std::int64_t plane = e / planeDst;
    const int r = static_cast<int>(e - plane * planeDst);
    const int i2 = r % b.d[2], t = r / b.d[2], i1 = t % b.d[1], i0 = t / b.d[1];
    float v = alpha * src[plane * planeFloats + ((i0 + b.o[0]) * L1 + (i1 + b.o[1])) * row + i2 + b.o[2]];
    if (beta != 0.f) v += beta * static_cast<float>(ld(dst[e]));
    dst[e] = st<T>(v);
  }
}

// One thread per frequency and TI x TJ outputs: per step of the reduction it loads TI + TJ
// complex values (coalesced across the warp's frequencies) for 4 TI TJ multiply-adds.
template <int TI, int TJ>
__global__ void productKernel(const float2* __restrict__ A, const float2* __restrict__ B, float2* __restrict__ out,
                              Product p) {
  const std::int64_t f = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (f >= p.F) return;
  const std::int64_t i0 = static_cast<std::int64_t>(blockIdx.y) * TI, j0 = static_cast<std::int64_t>(blockIdx.z) * TJ;
  const float sa = p.conjA ? -1.f : 1.f, sb = p.conjB ? -1.f : 1.f;
  float2 acc[TI][TJ];
#pragma unroll
  for (int a = 0; a < TI; ++a)
#pragma unroll
    for (int b = 0; b < TJ; ++b) acc[a][b] = make_float2(0.f, 0.f);
  for (std::int64_t r = 0; r < p.R; ++r) {
    float2 va[TI], vb[TJ];
#pragma unroll
    for (int a = 0; a < TI; ++a) {
      const std::int64_t i = i0 + a < p.I ? i0 + a : p.I - 1;  // clamped: its result is not stored
      va[a] = A[(i * p.aI + r * p.aR) * p.F + f];
      va[a].y *= sa;
    }
#pragma unroll
    for (int b = 0; b < TJ; ++b) {
      const std::int64_t j = j0 + b < p.J ? j0 + b : p.J - 1;
      vb[b] = B[(j * p.bI + r * p.bR) * p.F + f];
      vb[b].y *= sb;
    }
#pragma unroll
    for (int a = 0; a < TI; ++a)
#pragma unroll
      for (int b = 0; b < TJ; ++b) {
        acc[a][b].x = fmaf(va[a].x, vb[b].x, fmaf(-va[a].y, vb[b].y, acc[a][b].x));
        acc[a][b].y = fmaf(va[a].x, vb[b].y, fmaf(va[a].y, vb[b].x, acc[a][b].y));
      }
  }
#pragma unroll
  for (int a = 0; a < TI; ++a)
#pragma unroll
    for (int b = 0; b < TJ; ++b) {
      if (i0 + a >= p.I || j0 + b >= p.J) continue;
      float2* o = out + ((i0 + a) * p.J + j0 + b) * p.F + f;
      float2 v = acc[a][b];
      if (p.accumulate) v.x += o->x, v.y += o->y;
      *o = v;
    }
}

int tileFor(std::int64_t n) { return n >= 8 ? 8 : n >= 4 ? 4 : n >= 2 ? 2 : 1; }

template <int TI, int TJ>
void launchProduct(const float2* A, const float2* B, float2* out, const Product& p, cudaStream_t stream) {
  constexpr int kBlock = 128;
  const dim3 grid(static_cast<unsigned>((p.F + kBlock - 1) / kBlock), static_cast<unsigned>((p.I + TI - 1) / TI),
                  static_cast<unsigned>((p.J + TJ - 1) / TJ));
  productKernel<TI, TJ><<<grid, kBlock, 0, stream>>>(A, B, out, p);
}

template <int TI>
void launchProductJ(int tj, const float2* A, const float2* B, float2* out, const Product& p, cudaStream_t stream) {
  switch (tj) {
    case 8: if constexpr (TI <= 4) { launchProduct<TI, 8>(A, B, out, p, stream); return; } break;
    case 4: launchProduct<TI, 4>(A, B, out, p, stream); return;
    case 2: launchProduct<TI, 2>(A, B, out, p, stream); return;
    default: launchProduct<TI, 1>(A, B, out, p, stream); return;
  }
  launchProduct<TI, 4>(A, B, out, p, stream);
}

template <class F>
void byElem(Elem type, F&& f) {
  if (type == Elem::Float32) f(float{});
  else if (type == Elem::BFloat16) f(__nv_bfloat16{});
  else f(__half{});
}

}  // namespace

void pack(const void* src, Elem type, const std::int64_t dims[3], const std::int64_t offset[3], std::int64_t valid,
          std::int64_t total, float* dst, const Volume& v, cudaStream_t stream) {
  const std::int64_t n = total * v.planeFloats();
  if (n == 0) return;
  byElem(type, [&](auto t) {
    using T = decltype(t);
    packKernel<T><<<gridFor(n), kThreads, 0, stream>>>(static_cast<const T*>(src), boxOf(dims, offset), valid, dst,
                                                       static_cast<int>(v.L[1]), static_cast<int>(v.row),
                                                       static_cast<int>(v.planeFloats()), n);
  });
}

void unpack(const float* src, const Volume& v, const std::int64_t dims[3], const std::int64_t offset[3],
            std::int64_t planes, float alpha, float beta, void* dst, Elem type, cudaStream_t stream) {
  const std::int64_t n = planes * dims[0] * dims[1] * dims[2];
  if (n == 0) return;
  byElem(type, [&](auto t) {
    using T = decltype(t);
    unpackKernel<T><<<gridFor(n), kThreads, 0, stream>>>(src, boxOf(dims, offset), static_cast<int>(v.L[1]),
                                                         static_cast<int>(v.row), static_cast<int>(v.planeFloats()),
                                                         alpha, beta, static_cast<T*>(dst), n);
  });
}

void spectralProduct(const float2* A, const float2* B, float2* out, const Product& p, cudaStream_t stream) {
  if (p.F == 0 || p.I == 0 || p.J == 0) return;
  int ti = tileFor(p.I), tj = tileFor(p.J);
  while (ti * tj > 32) (ti >= tj ? ti : tj) /= 2;  // at most 32 complex accumulators per thread
  switch (ti) {
    case 8: launchProductJ<8>(tj, A, B, out, p, stream); break;
    case 4: launchProductJ<4>(tj, A, B, out, p, stream); break;
    case 2: launchProductJ<2>(tj, A, B, out, p, stream); break;
    default: launchProductJ<1>(tj, A, B, out, p, stream); break;
  }
}

}  // namespace kaon::ops::cudak::fftconv
