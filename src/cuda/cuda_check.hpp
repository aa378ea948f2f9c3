#pragma once
// KAON_CUDA_CHECK: turns a cudaError_t into a kaon::Error with file, line and CUDA's message.
#include <cuda_runtime.h>

#include "kaon/core/error.hpp"

#define KAON_CUDA_CHECK(expr)                                                                 \
  do {                                                                                        \
    cudaError_t kaonCudaStatus_ = (expr);                                                     \
    if (kaonCudaStatus_ != cudaSuccess)                                                       \
      KAON_FAIL("CUDA error {} ({}) in {}", cudaGetErrorName(kaonCudaStatus_),                \
                cudaGetErrorString(kaonCudaStatus_), #expr);                                  \
  } while (0)
