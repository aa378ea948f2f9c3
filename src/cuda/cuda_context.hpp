#pragma once
// Per-device CUDA context: one compute stream per device and the cuBLAS/cuDNN handles bound
// to it. Every Kaon kernel, library call and device memset/copy runs on the compute stream of
// its device, so work on one device is ordered without events; results the host reads
// (Tensor::to(cpu), sums) synchronise that stream explicitly. A second, copy stream carries
// asynchronous host-to-device transfers (the next batch) that overlap compute; it is ordered
// against the compute stream with events only (src/core/device_stream.hpp).
//
// Created lazily on first use, one per device, and never destroyed (the CUDA runtime may
// already be torn down when static destructors run).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

namespace kaon::cuda {

struct DeviceContext {
  int device = 0;
  cudaStream_t compute = nullptr;  // non-blocking w.r.t. the legacy default stream
  cudaStream_t copy = nullptr;     // asynchronous transfers; non-blocking too
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
};

// The context of `device`; makes `device` current on the calling thread.
DeviceContext& context(int device);
// Shortcut: the compute stream of `device` (also makes it current).
cudaStream_t computeStream(int device);
// The copy stream of `device` (also makes it current).
cudaStream_t copyStream(int device);
// Blocks the host until the device's compute stream has finished its work.
void synchronize(int device);

}  // namespace kaon::cuda
