// Kernels of the im2col + cuBLAS filter gradient (conv_filter_gemm.hpp).
#include "conv_filter_gemm_kernels.hpp"
#include "cuda_common.cuh"

namespace kaon::ops::cudak::filtergemm {
namespace {

struct Geo {
  Im2colGeometry g;
  std::int64_t P, K, CK, inSp;
};

Geo geoOf(const Im2colGeometry& g) {
  Geo q{g, g.out[0] * g.out[1] * g.out[2], g.k[0] * g.k[1] * g.k[2], 0, g.in[0] * g.in[1] * g.in[2]};
  q.CK = g.C * q.K;
  return q;
}

// One thread per element of col [S, P, CK]; consecutive threads walk the kernel's x axis, so
// neighbouring reads of x are neighbours too.
__global__ void im2colKernel(const float* x, float* col, Geo q, std::int64_t n) {
  KAON_GRID_STRIDE(i, n) {
    const std::int64_t ck = i % q.CK, p = i / q.CK % q.P, s = i / (q.CK * q.P);
    const std::int64_t kx = ck % q.g.k[2], ky = ck / q.g.k[2] % q.g.k[1], kz = ck / (q.g.k[2] * q.g.k[1]) % q.g.k[0];
    const std::int64_t c = ck / q.K;
    const std::int64_t ox = p % q.g.out[2], oy = p / q.g.out[2] % q.g.out[1], oz = p / (q.g.out[2] * q.g.out[1]);
    const std::int64_t iz = oz * q.g.stride[0] + kz * q.g.dil[0] - q.g.pad[0];
    const std::int64_t iy = oy * q.g.stride[1] + ky * q.g.dil[1] - q.g.pad[1];
    const std::int64_t ix = ox * q.g.stride[2] + kx * q.g.dil[2] - q.g.pad[2];
    const bool inside = iz >= 0 && iz < q.g.in[0] && iy >= 0 && iy < q.g.in[1] && ix >= 0 && ix < q.g.in[2];
    col[i] = inside ? x[(s * q.g.C + c) * q.inSp + (iz * q.g.in[1] + iy) * q.g.in[2] + ix] : 0.f;
  }
}

// dw[j] = beta * dw[j] + sum_s part[s, j], s in order.
__global__ void sumPartialsKernel(const float* part, std::int64_t S, std::int64_t n, float* dw, float beta) {
  KAON_GRID_STRIDE(j, n) {
    float acc = 0.f;
    for (std::int64_t s = 0; s < S; ++s) acc += part[s * n + j];
    dw[j] = beta == 0.f ? acc : acc + beta * dw[j];
  }
}

}  // namespace

void im2col(const float* x, float* col, const Im2colGeometry& g, std::int64_t samples, cudaStream_t stream) {
  const Geo q = geoOf(g);
  const std::int64_t n = samples * q.P * q.CK;
  if (n > 0) im2colKernel<<<kaon::ops::cuda::gridFor(n), kaon::ops::cuda::kThreads, 0, stream>>>(x, col, q, n);
}

void sumPartials(const float* part, std::int64_t samples, std::int64_t n, float* dw, float beta, cudaStream_t stream) {
  if (n > 0) sumPartialsKernel<<<kaon::ops::cuda::gridFor(n), kaon::ops::cuda::kThreads, 0, stream>>>(part, samples, n, dw, beta);
}

}  // namespace kaon::ops::cudak::filtergemm
