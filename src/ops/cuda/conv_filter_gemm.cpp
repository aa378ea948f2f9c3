// Host side of the im2col + cuBLAS filter gradient (conv_filter_gemm.hpp).
#include "conv_filter_gemm.hpp"

#include "../../cuda/cuda_check.hpp"
#include "conv_filter_gemm_kernels.hpp"

namespace kaon::ops::cudak::filtergemm {

std::size_t bytesPerSample(const ConvGeometry& g) {
  const std::int64_t CK = g.inChannels * g.kernelVolume();
  return sizeof(float) * static_cast<std::size_t>(g.outSpatial() * CK + g.outChannels * CK);
}

namespace {

Im2colGeometry plainGeometry(const ConvGeometry& g) {
  Im2colGeometry q{};
  q.C = g.inChannels;
  for (int a = 0; a < 3; ++a) {
    q.in[a] = g.in[a], q.out[a] = g.out[a], q.k[a] = g.kernel[a];
    q.stride[a] = g.stride[a], q.dil[a] = g.dilation[a], q.pad[a] = g.padBegin[a];
  }
  return q;
}

}  // namespace

void backwardFilter(const float* x, const float* dy, float* dw, double beta, const ConvGeometry& g, std::int64_t chunk,
                    void* scratch, cublasHandle_t handle, cudaStream_t stream) {
  const std::int64_t OC = g.outChannels, P = g.outSpatial(), CK = g.inChannels * g.kernelVolume(), wElems = OC * CK;
  const std::int64_t inSample = g.inChannels * g.inSpatial();
  float* col = static_cast<float*>(scratch);
  float* part = col + chunk * P * CK;
  const float one = 1.f, zero = 0.f;
  const Im2colGeometry plain = plainGeometry(g);
  for (std::int64_t n0 = 0; n0 < g.batch; n0 += chunk) {  // the handle runs on `stream` already
    const std::int64_t S = g.batch - n0 < chunk ? g.batch - n0 : chunk;
    im2col(x + n0 * inSample, col, plain, S, stream);
    KAON_CUDA_CHECK(cudaGetLastError());
    // Row-major part[s] (OC x CK) = dy[s] (OC x P) * col[s] (P x CK), i.e. column-major
    // part^T (CK x OC) = col^T (CK x P) * dy^T (P x OC).
    KAON_CUBLAS_CHECK(cublasSgemmStridedBatched(handle, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(CK),
                                                static_cast<int>(OC), static_cast<int>(P), &one, col,
                                                static_cast<int>(CK), P * CK, dy + n0 * OC * P, static_cast<int>(P),
                                                OC * P, &zero, part, static_cast<int>(CK), wElems,
                                                static_cast<int>(S)));
    sumPartials(part, S, wElems, dw, n0 == 0 ? static_cast<float>(beta) : 1.f, stream);
    KAON_CUDA_CHECK(cudaGetLastError());
  }
}

}  // namespace kaon::ops::cudak::filtergemm
