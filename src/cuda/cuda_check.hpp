#pragma once
// Check macros for CUDA, cuBLAS and cuDNN calls: a failure becomes a kaon::Error carrying the
// file, the line, the library's own message and the failing expression.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "kaon/core/error.hpp"

#define KAON_CUDA_CHECK(expr)                                                                 \
  do {                                                                                        \
    cudaError_t kaonCudaStatus_ = (expr);                                                     \
    if (kaonCudaStatus_ != cudaSuccess)                                                       \
      KAON_FAIL("CUDA error {} ({}) in {}", cudaGetErrorName(kaonCudaStatus_),                \
                cudaGetErrorString(kaonCudaStatus_), #expr);                                  \
  } while (0)

// After a kernel launch: reports launch-configuration errors (not asynchronous faults).
#define KAON_CUDA_CHECK_LAUNCH() KAON_CUDA_CHECK(cudaGetLastError())

#define KAON_CUBLAS_CHECK(expr)                                                               \
  do {                                                                                        \
    cublasStatus_t kaonCublasStatus_ = (expr);                                                \
    if (kaonCublasStatus_ != CUBLAS_STATUS_SUCCESS)                                           \
      KAON_FAIL("cuBLAS error {} ({}) in {}", cublasGetStatusName(kaonCublasStatus_),         \
                cublasGetStatusString(kaonCublasStatus_), #expr);                             \
  } while (0)

#define KAON_CUDNN_CHECK(expr)                                                                \
  do {                                                                                        \
    cudnnStatus_t kaonCudnnStatus_ = (expr);                                                  \
    if (kaonCudnnStatus_ != CUDNN_STATUS_SUCCESS)                                             \
      KAON_FAIL("cuDNN error {} in {}", cudnnGetErrorString(kaonCudnnStatus_), #expr);        \
  } while (0)
