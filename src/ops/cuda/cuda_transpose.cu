// Batched 2-D transpose: the layout change between Kaon's channels-first tensors (N, C, *S)
// and the channels-last ones (N, *S, C) that cuDNN's fastest tensor-core kernels read
// (cuda_conv_channels_last.cpp). Memory-bound: one read and one write of every element,
// through a shared-memory tile so both sides stay coalesced.
#include "cuda_common.cuh"
#include "cuda_launch.hpp"

namespace kaon::ops::cuda {
namespace {

constexpr int kTile = 32, kRowsPerPass = 8;  // 32x8 threads move a 32x32 tile

// out[b, c, r] = in[b, r, c] (+ beta * out[b, c, r]) for in [batch, rows, cols].
template <class T>
__global__ void transposeKernel(const T* in, T* out, i64 batch, i64 rows, i64 cols, double beta) {
  __shared__ T tile[kTile][kTile + 1];  // +1: no bank conflicts on the transposed read
  const i64 c0 = static_cast<i64>(blockIdx.x) * kTile, rowTiles = (rows + kTile - 1) / kTile;
  // Batch entries and row tiles beyond the grid (65535 each) are looped over.
  for (i64 b = blockIdx.z; b < batch; b += gridDim.z) {
    const T* src = in + b * rows * cols;
    T* dst = out + b * rows * cols;
    for (i64 r0 = static_cast<i64>(blockIdx.y) * kTile; r0 < rowTiles * kTile; r0 += static_cast<i64>(gridDim.y) * kTile) {
      for (int k = threadIdx.y; k < kTile; k += kRowsPerPass) {
        const i64 r = r0 + k, c = c0 + threadIdx.x;
        if (r < rows && c < cols) tile[k][threadIdx.x] = src[r * cols + c];
      }
      __syncthreads();
      for (int k = threadIdx.y; k < kTile; k += kRowsPerPass) {
        const i64 c = c0 + k, r = r0 + threadIdx.x;
        if (r < rows && c < cols) {
          T* o = dst + c * rows + r;
          *o = beta == 0.0 ? tile[threadIdx.x][k] : st<T>(ld(tile[threadIdx.x][k]) + beta * ld(*o));
        }
      }
      __syncthreads();  // the tile is refilled for the next row tile or batch entry
    }
  }
}

}  // namespace

template <class T>
void transposeBatched(const T* in, T* out, i64 batch, i64 rows, i64 cols, double beta, cudaStream_t s) {
  if (batch == 0 || rows == 0 || cols == 0) return;
  const dim3 block(kTile, kRowsPerPass);
  const i64 z = batch < 65535 ? batch : 65535, rowTiles = (rows + kTile - 1) / kTile;  // the kernel loops over the rest
  const dim3 grid(static_cast<unsigned>((cols + kTile - 1) / kTile), static_cast<unsigned>(rowTiles < 65535 ? rowTiles : 65535),
                  static_cast<unsigned>(z));
  transposeKernel<T><<<grid, block, 0, s>>>(in, out, batch, rows, cols, beta);
}

#define KAON_INSTANTIATE(T) template void transposeBatched<T>(const T*, T*, i64, i64, i64, double, cudaStream_t);
KAON_FOR_ALL_FLOAT_TYPES(KAON_INSTANTIATE)
#undef KAON_INSTANTIATE

}  // namespace kaon::ops::cuda
