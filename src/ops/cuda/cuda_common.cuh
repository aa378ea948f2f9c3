#pragma once
// Device helpers shared by Kaon's .cu files: launch sizes and block reductions in double.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace kaon::ops::cuda {

inline constexpr int kThreads = 256;

// Arithmetic type of a storage type: the 16-bit floats compute in float (their operators and
// implicit constructors from float *and* double make mixed expressions ambiguous, so kernels
// load with ld() and store with st<T>()); float and double compute in themselves.
template <class T> struct AccOf { using type = T; };
template <> struct AccOf<__nv_bfloat16> { using type = float; };
template <> struct AccOf<__half> { using type = float; };
template <class T> using Acc = typename AccOf<T>::type;

template <class T>
__device__ __forceinline__ Acc<T> ld(T v) { return static_cast<Acc<T>>(v); }
template <class T, class V>
__device__ __forceinline__ T st(V v) { return static_cast<T>(static_cast<Acc<T>>(v)); }

// Instantiates M(T) for every storage type the element-wise kernels support.
#define KAON_FOR_ALL_FLOAT_TYPES(M) M(float) M(double) M(__nv_bfloat16) M(__half)

inline unsigned gridFor(std::int64_t n) {
  std::int64_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks < 1) blocks = 1;
  return static_cast<unsigned>(blocks > 65535LL * 16 ? 65535LL * 16 : blocks);  // grid-stride beyond
}

// Whether every index of a copy between tensors of `a` and `b` elements fits 32-bit arithmetic
// (with room for the grid stride): 64-bit division costs several times more and makes index-
// heavy copies (padding, upsampling) ALU-bound.
inline bool fits32(std::int64_t a, std::int64_t b) { return a < (std::int64_t{1} << 31) && b < (std::int64_t{1} << 31); }

#define KAON_GRID_STRIDE(i, n)                                                                        \
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<std::int64_t>(blockDim.x) * gridDim.x)

// Sum of v over the block (blockDim.x == kThreads); every thread gets the total.
__device__ inline double blockSum(double v) {
  __shared__ double shared[kThreads / 32];
  __shared__ double total;
  for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kThreads / 32 ? shared[lane] : 0.0;
    for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
    if (lane == 0) total = v;
  }
  __syncthreads();
  double r = total;
  __syncthreads();  // shared memory may be reused by the next call
  return r;
}

__device__ inline double blockMax(double v) {
  __shared__ double shared[kThreads / 32];
  __shared__ double total;
  for (int off = 16; off > 0; off /= 2) v = fmax(v, __shfl_down_sync(0xffffffffu, v, off));
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kThreads / 32 ? shared[lane] : -INFINITY;
    for (int off = 16; off > 0; off /= 2) v = fmax(v, __shfl_down_sync(0xffffffffu, v, off));
    if (lane == 0) total = v;
  }
  __syncthreads();
  double r = total;
  __syncthreads();
  return r;
}

}  // namespace kaon::ops::cuda
