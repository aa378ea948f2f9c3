#pragma once
// Filter gradient of a float32 convolution as im2col + cuBLAS, for the geometries where every
// cuDNN algorithm and engine is slow: few channels with long 3-D kernels (the 3DGAN's 1 -> 32
// channel 5x6x6 and 6 -> 6 channel 3x3x8 convolutions run 10-20x slower in cuDNN's strict-FP32
// filter-gradient engines than the work needs, docs/perf-notes.md section 11).
//
// Per chunk of S samples: col[s, p, c*K + k] = x[s, c, o(p)*stride + k*dilation - pad] (zero
// outside), then one strided-batched SGEMM part[s] = dy[s] (OC x P) * col[s] (P x CK), then the
// S partials are summed in order into dw (beta on the first chunk). Deterministic; no atomics.
// cuda_conv.cpp times it beside cuDNN once per geometry and checks its result against cuDNN's
// before ever using it.
#include <cstddef>
#include <cstdint>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "kaon/ops/conv_params.hpp"

namespace kaon::ops::cudak::filtergemm {

// Scratch bytes per sample of a chunk (its column matrix and its partial gradient).
std::size_t bytesPerSample(const ConvGeometry& g);

// dw [OC, C, *K] = beta*dw + sum_n dy[n] (x) x[n], `chunk` samples at a time with
// chunk * bytesPerSample(g) bytes of scratch. g: symmetric padding (the cuDNN view).
void backwardFilter(const float* x, const float* dy, float* dw, double beta, const ConvGeometry& g, std::int64_t chunk,
                    void* scratch, cublasHandle_t handle, cudaStream_t stream);

}  // namespace kaon::ops::cudak::filtergemm
