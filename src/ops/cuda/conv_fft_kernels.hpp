#pragma once
// Kernel launchers of the FFT convolution (conv_fft.hpp), in plain types (nvcc does not see
// Kaon's C++20 headers). A "plane" is one channel of one sample: a [D, H, W] block of a tensor,
// or one padded real / complex volume of an FFT buffer.
#include <cuda_runtime.h>

#include <cstdint>

namespace kaon::ops::cudak::fftconv {

enum class Elem { Float32, BFloat16, Float16 };

// The FFT buffers' real layout: [planes][L0][L1][row] floats with row = 2 * (L2 / 2 + 1), which
// is cuFFT's in-place R2C layout; the same bytes are [planes][L0][L1][L2 / 2 + 1] complex.
struct Volume {
  std::int64_t L[3];  // FFT sizes (1 on unused axes)
  std::int64_t row;   // padded length of the last axis, in floats
  std::int64_t planeFloats() const { return L[0] * L[1] * row; }
};

// dst planes [0, total) = src planes [0, valid) of size `dims`, placed at `offset` inside each
// FFT volume, zero elsewhere (planes >= valid are zero).
void pack(const void* src, Elem type, const std::int64_t dims[3], const std::int64_t offset[3], std::int64_t valid,
          std::int64_t total, float* dst, const Volume& v, cudaStream_t stream);

// dst [planes][dims] = alpha * src[plane][offset + i] + beta * dst (dst not read when beta is 0).
void unpack(const float* src, const Volume& v, const std::int64_t dims[3], const std::int64_t offset[3],
            std::int64_t planes, float alpha, float beta, void* dst, Elem type, cudaStream_t stream);

// Per frequency f of F, for i < I and j < J:
//   out[i * J + j][f] = (accumulate ? out[i * J + j][f] : 0) + sum_{r < R} a(i, r) * b(j, r)
// with a(i, r) = A[i * aI + r * aR][f] (conjugated if conjA), b likewise. Planes of F complex
// values (float2), consecutive frequencies contiguous.
struct Product {
  std::int64_t F, I, J, R, aI, aR, bI, bR;
  bool conjA, conjB, accumulate;
};
void spectralProduct(const float2* A, const float2* B, float2* out, const Product& p, cudaStream_t stream);

}  // namespace kaon::ops::cudak::fftconv
