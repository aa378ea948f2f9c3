#pragma once
// Kernel launchers of the im2col + cuBLAS filter gradient (conv_filter_gemm.hpp), in plain types
// (nvcc does not see Kaon's C++20 headers).
#include <cuda_runtime.h>

#include <cstdint>

namespace kaon::ops::cudak::filtergemm {

struct Im2colGeometry {
  std::int64_t C, in[3], out[3], k[3], stride[3], dil[3], pad[3];  // symmetric padding
};

// col [S, P, C*K] of S consecutive samples of x [S, C, *in].
void im2col(const float* x, float* col, const Im2colGeometry& g, std::int64_t samples, cudaStream_t stream);
// dw[j] = beta * dw[j] + sum_s part[s * n + j], s in order.
void sumPartials(const float* part, std::int64_t samples, std::int64_t n, float* dw, float beta, cudaStream_t stream);

}  // namespace kaon::ops::cudak::filtergemm
