#pragma once
// Device helpers shared by Kaon's .cu files: launch sizes and block reductions in double.
#include <cuda_runtime.h>

#include <cstdint>

namespace kaon::ops::cuda {

inline constexpr int kThreads = 256;

inline unsigned gridFor(std::int64_t n) {
  std::int64_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks < 1) blocks = 1;
  return static_cast<unsigned>(blocks > 65535LL * 16 ? 65535LL * 16 : blocks);  // grid-stride beyond
}

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
