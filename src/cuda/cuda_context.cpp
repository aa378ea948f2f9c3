#include "cuda_context.hpp"

#include <memory>
#include <mutex>
#include <vector>

#include "cuda_check.hpp"

namespace kaon::cuda {
namespace {

DeviceContext* create(int device) {
  auto* c = new DeviceContext();  // leaked on purpose: see the header
  c->device = device;
  KAON_CUDA_CHECK(cudaSetDevice(device));
  KAON_CUDA_CHECK(cudaStreamCreateWithFlags(&c->compute, cudaStreamNonBlocking));
  KAON_CUDA_CHECK(cudaStreamCreateWithFlags(&c->copy, cudaStreamNonBlocking));
  KAON_CUBLAS_CHECK(cublasCreate(&c->cublas));
  KAON_CUBLAS_CHECK(cublasSetStream(c->cublas, c->compute));
  // Plain FP32 arithmetic: no TF32 tensor-core rounding (parity with the CPU backend).
  KAON_CUBLAS_CHECK(cublasSetMathMode(c->cublas, CUBLAS_DEFAULT_MATH));
  KAON_CUBLAS_CHECK(cublasSetPointerMode(c->cublas, CUBLAS_POINTER_MODE_HOST));
  KAON_CUDNN_CHECK(cudnnCreate(&c->cudnn));
  KAON_CUDNN_CHECK(cudnnSetStream(c->cudnn, c->compute));
  return c;
}

}  // namespace

DeviceContext& context(int device) {
  static std::mutex mutex;
  static std::vector<DeviceContext*> contexts;
  std::lock_guard lock(mutex);
  KAON_CHECK(device >= 0, "invalid CUDA device index {}", device);
  if (static_cast<int>(contexts.size()) <= device) contexts.resize(device + 1, nullptr);
  if (!contexts[device]) contexts[device] = create(device);
  KAON_CUDA_CHECK(cudaSetDevice(device));
  return *contexts[device];
}

cudaStream_t computeStream(int device) { return context(device).compute; }

cudaStream_t copyStream(int device) { return context(device).copy; }

void synchronize(int device) { KAON_CUDA_CHECK(cudaStreamSynchronize(computeStream(device))); }

}  // namespace kaon::cuda
