// Timing and checking helpers of the convolution autotuner (conv_tuning.hpp).
#include "conv_tuning.hpp"

#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../../cuda/cuda_check.hpp"

namespace kaon::ops::cudak {

float timeOnce(const std::function<void()>& f, cudaStream_t stream) {
  f();
  cudaEvent_t start, stop;
  KAON_CUDA_CHECK(cudaEventCreate(&start));
  KAON_CUDA_CHECK(cudaEventCreate(&stop));
  KAON_CUDA_CHECK(cudaEventRecord(start, stream));
  f();
  KAON_CUDA_CHECK(cudaEventRecord(stop, stream));
  KAON_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  KAON_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ms;
}

std::vector<float> hostFloats(const void* device, std::int64_t n, DType t) {
  std::vector<float> f(static_cast<std::size_t>(n));
  if (t == DType::Float32) {
    KAON_CUDA_CHECK(cudaMemcpy(f.data(), device, sizeof(float) * n, cudaMemcpyDeviceToHost));
    return f;
  }
  KAON_CHECK(t == DType::BFloat16 || t == DType::Float16, "conv check: {} not supported", dtypeName(t));
  std::vector<std::uint16_t> bits(static_cast<std::size_t>(n));
  KAON_CUDA_CHECK(cudaMemcpy(bits.data(), device, sizeof(std::uint16_t) * n, cudaMemcpyDeviceToHost));
  for (std::size_t i = 0; i < bits.size(); ++i) {
    if (t == DType::BFloat16) {
      const std::uint32_t wide = std::uint32_t{bits[i]} << 16;
      std::memcpy(&f[i], &wide, sizeof wide);
    } else {
      __half_raw raw;
      raw.x = bits[i];
      f[i] = __half2float(__half(raw));
    }
  }
  return f;
}

double normalisedError(const void* a, const void* ref, std::int64_t n, DType t, cudaStream_t stream) {
  KAON_CUDA_CHECK(cudaStreamSynchronize(stream));
  const std::vector<float> o = hostFloats(a, n, t), r = hostFloats(ref, n, t);
  double diff = 0, scale = 1e-30;
  for (std::size_t i = 0; i < o.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(o[i]) - r[i]));
    scale = std::max(scale, std::abs(static_cast<double>(r[i])));
  }
  return std::isfinite(diff) ? diff / scale : 1e30;
}

}  // namespace kaon::ops::cudak
