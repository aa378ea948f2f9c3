// Inverted dropout with the counter-based generator of kaon/ops/counter_rng.hpp: thread i draws
// counterUniform24(seed, offset + i), exactly what the CPU and reference kernels draw, so the
// masks are bitwise identical on every backend (and so is y = x * mask, one IEEE multiply).
#include "cuda_common.cuh"
#include "cuda_launch.hpp"
#include "kaon/ops/counter_rng.hpp"

namespace kaon::ops::cuda {
namespace {

template <class T>
__global__ void dropoutKernel(Acc<T> scale, std::uint32_t threshold, std::uint64_t seed, std::uint64_t offset, const T* x,
                              T* y, T* mask, i64 n) {
  KAON_GRID_STRIDE(i, n) {
    const Acc<T> keep = counterUniform24(seed, offset + static_cast<std::uint64_t>(i)) >= threshold ? scale : Acc<T>(0);
    mask[i] = st<T>(keep);
    y[i] = st<T>(ld(x[i]) * keep);
  }
}

}  // namespace

template <class T>
void dropoutForward(double scale, std::uint32_t threshold, std::uint64_t seed, std::uint64_t offset, const T* x, T* y,
                    T* mask, i64 n, cudaStream_t s) {
  if (n == 0) return;
  dropoutKernel<<<gridFor(n), kThreads, 0, s>>>(static_cast<Acc<T>>(scale), threshold, seed, offset, x, y, mask, n);
}

#define KAON_INSTANTIATE(T)                                                                                \
  template void dropoutForward<T>(double, std::uint32_t, std::uint64_t, std::uint64_t, const T*, T*, T*, i64, cudaStream_t);
KAON_FOR_ALL_FLOAT_TYPES(KAON_INSTANTIATE)
#undef KAON_INSTANTIATE

}  // namespace kaon::ops::cuda
