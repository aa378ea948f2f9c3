// GEMM through cuBLAS. Kaon is row-major and cuBLAS column-major: a row-major [R, C] matrix is
// the column-major [C, R] matrix, its transpose, so C = op(A) op(B) is computed as
// C^T = op(B)^T op(A)^T with the operands swapped and the same transpose flags.
// Float32: SGEMM (strict FP32) or, with kaon::tf32Allowed(), GemmEx with TF32 compute;
// BFloat16/Float16: GemmEx with 16-bit storage and FP32 accumulation (CUBLAS_COMPUTE_32F).
#include "../../cuda/cuda_check.hpp"
#include "../../cuda/cuda_context.hpp"
#include "cuda_kernels.hpp"
#include "kaon/core/precision.hpp"

namespace kaon::ops::cudak {

void gemm(bool transA, bool transB, double alpha, const Tensor& a, const Tensor& b, double beta, const Tensor& c) {
  const int M = static_cast<int>(c.dim(0)), N = static_cast<int>(c.dim(1));
  const int K = static_cast<int>(transA ? a.dim(0) : a.dim(1));
  const int lda = static_cast<int>(a.dim(1)), ldb = static_cast<int>(b.dim(1));
  if (M == 0 || N == 0) return;
  cublasHandle_t h = kaon::cuda::context(c.device().index).cublas;
  cublasOperation_t opA = transA ? CUBLAS_OP_T : CUBLAS_OP_N, opB = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  float al = static_cast<float>(alpha), be = static_cast<float>(beta);
  // [M, N] row-major == [N, M] column-major, leading dimension N.
  auto gemmEx = [&](cudaDataType_t type, cublasComputeType_t compute) {
    KAON_CUBLAS_CHECK(cublasGemmEx(h, opB, opA, N, M, K, &al, b.raw(), type, ldb, a.raw(), type, lda, &be, c.raw(),
                                   type, N, compute, CUBLAS_GEMM_DEFAULT));
  };
  switch (c.dtype()) {
    case DType::Float32:
      if (tf32Allowed()) {
        gemmEx(CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32);
      } else {
        KAON_CUBLAS_CHECK(cublasSgemm(h, opB, opA, N, M, K, &al, b.data<float>(), ldb, a.data<float>(), lda, &be,
                                      c.data<float>(), N));
      }
      break;
    case DType::Float64:
      KAON_CUBLAS_CHECK(cublasDgemm(h, opB, opA, N, M, K, &alpha, b.data<double>(), ldb, a.data<double>(), lda,
                                    &beta, c.data<double>(), N));
      break;
    case DType::BFloat16: gemmEx(CUDA_R_16BF, CUBLAS_COMPUTE_32F); break;
    case DType::Float16: gemmEx(CUDA_R_16F, CUBLAS_COMPUTE_32F); break;
    default: throw NotImplemented(fmt::format("gemm for {} on the cuda backend", dtypeName(c.dtype())));
  }
}

}  // namespace kaon::ops::cudak
