// Inverted dropout with the counter-based generator of kaon/ops/counter_rng.hpp: thread i draws
// counterUniform24(seed, offset + i), exactly what the CPU and reference kernels draw, so the
// masks are bitwise identical on every backend (and so is y = x * mask, one IEEE multiply).
#include "cuda_common.cuh"
#include "cuda_launch.hpp"
#include "kaon/ops/counter_rng.hpp"

namespace kaon::ops::cuda {
namespace {

template <class T>
__global__ void dropoutKernel(T scale, std::uint32_t threshold, std::uint64_t seed, std::uint64_t offset, const T* x,
                              T* y, T* mask, i64 n) {
  KAON_GRID_STRIDE(i, n) {
    const T keep = counterUniform24(seed, offset + static_cast<std::uint64_t>(i)) >= threshold ? scale : T(0);
    mask[i] = keep;
    y[i] = x[i] * keep;
  }
}

}  // namespace

template <class T>
void dropoutForward(double scale, std::uint32_t threshold, std::uint64_t seed, std::uint64_t offset, const T* x, T* y,
                    T* mask, i64 n, cudaStream_t s) {
  if (n == 0) return;
  dropoutKernel<<<gridFor(n), kThreads, 0, s>>>(static_cast<T>(scale), threshold, seed, offset, x, y, mask, n);
}

template void dropoutForward<float>(double, std::uint32_t, std::uint64_t, std::uint64_t, const float*, float*, float*,
                                    i64, cudaStream_t);
template void dropoutForward<double>(double, std::uint32_t, std::uint64_t, std::uint64_t, const double*, double*,
                                     double*, i64, cudaStream_t);

}  // namespace kaon::ops::cuda
