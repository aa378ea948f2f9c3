#pragma once
// The counter-based random numbers behind dropout: every backend (reference, CPU, a future CUDA
// kernel) computes draw i of a stream from (seed, i) alone, so they produce identical masks
// whatever the threading, and a step can be replayed exactly.
//
// The generator is SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number
// generators", OOPSLA 2014; Vigna's reference splitmix64.c), read as a counter-based generator:
// the state after n+1 steps is seed + (n+1)*golden, so output n of the stream seeded with `seed`
// is mix(seed + (n+1)*golden). Its outputs pass BigCrush; the test suite pins them to the
// published reference vector. All arithmetic is on uint64 (wrap-around), cheap on a GPU.
#include <cstdint>

// The same functions compile into CUDA kernels (src/ops/cuda/cuda_dropout.cu).
#if defined(__CUDACC__)
#define KAON_HOST_DEVICE __host__ __device__
#else
#define KAON_HOST_DEVICE
#endif

namespace kaon::ops {

inline constexpr std::uint64_t kSplitMixGolden = 0x9E3779B97F4A7C15ull;

// The SplitMix64 finaliser (a bijection of uint64).
KAON_HOST_DEVICE constexpr std::uint64_t splitMix64Mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Output n (0-based) of the SplitMix64 stream seeded with `seed`.
KAON_HOST_DEVICE constexpr std::uint64_t splitMix64At(std::uint64_t seed, std::uint64_t n) {
  return splitMix64Mix(seed + (n + 1) * kSplitMixGolden);
}

// Draw n as an integer in [0, 2^24): the top 24 bits, so that value * 2^-24 is exact in float.
KAON_HOST_DEVICE constexpr std::uint32_t counterUniform24(std::uint64_t seed, std::uint64_t n) {
  return static_cast<std::uint32_t>(splitMix64At(seed, n) >> 40);
}
// Draw n as a uniform number in [0, 1) on the grid k * 2^-24 (exact in float and double).
KAON_HOST_DEVICE constexpr double counterUniform(std::uint64_t seed, std::uint64_t n) {
  return static_cast<double>(counterUniform24(seed, n)) * (1.0 / 16777216.0);
}
// counterUniform(seed, n) >= rate  <=>  counterUniform24(seed, n) >= counterThreshold24(rate):
// an integer comparison a kernel can use (rate * 2^24 is exact in double, so ceil is exact too).
KAON_HOST_DEVICE constexpr std::uint32_t counterThreshold24(double rate) {
  double scaled = rate * 16777216.0;
  auto t = static_cast<std::uint64_t>(scaled);
  if (static_cast<double>(t) < scaled) ++t;  // ceil for positive values
  return static_cast<std::uint32_t>(t > 16777216u ? 16777216u : t);
}

}  // namespace kaon::ops
