// Registration of the CUDA backend's kernels (built only with CUDA; otherwise
// register_cuda_stub.cpp leaves the table empty). Entries not listed here report
// "not implemented: <op> on the cuda backend".
#include "cuda_kernels.hpp"

namespace kaon::ops {

void registerCudaKernels(KernelTable& t) {
  t.gemm = cudak::gemm;
  t.convForward = cudak::convForward;
  t.convForwardFused = cudak::convForwardFused;
  t.convBackwardData = cudak::convBackwardData;
  t.convBackwardFilter = cudak::convBackwardFilter;
  t.biasAdd = cudak::biasAdd;
  t.biasBackward = cudak::biasBackward;
  t.activationForward = cudak::activationForward;
  t.activationBackward = cudak::activationBackward;
  t.softmaxForward = cudak::softmaxForward;
  t.softmaxBackward = cudak::softmaxBackward;
  t.axpby = cudak::axpby;
  t.mul = cudak::mul;
  t.convert = cudak::convert;
  t.sumAll = cudak::sumAll;
  t.sumSquares = cudak::sumSquares;
  t.sumMiddleForward = cudak::sumMiddleForward;
  t.sumMiddleBackward = cudak::sumMiddleBackward;
  t.padForward = cudak::padForward;
  t.padBackward = cudak::padBackward;
  t.upsampleForward = cudak::upsampleForward;
  t.upsampleBackward = cudak::upsampleBackward;
  t.copyIntoAxis = cudak::copyIntoAxis;
  t.copyFromAxis = cudak::copyFromAxis;
  t.batchNormForward = cudak::batchNormForward;
  t.batchNormBackward = cudak::batchNormBackward;
  t.batchNormStatistics = cudak::batchNormStatistics;
  t.batchNormForwardFromStatistics = cudak::batchNormForwardFromStatistics;
  t.batchNormBackwardFromSums = cudak::batchNormBackwardFromSums;
  t.poolForward = cudak::poolForward;
  t.poolBackward = cudak::poolBackward;
  t.lossForwardBackward = cudak::lossForwardBackward;
  t.dropoutForward = cudak::dropoutForward;
  t.sgdStep = cudak::sgdStep;
  t.adamStep = cudak::adamStep;
  t.rmspropStep = cudak::rmspropStep;
}

}  // namespace kaon::ops
