#include "reference_kernels.hpp"

namespace kaon::ops {

void registerReferenceKernels(KernelTable& t) {
  t.gemm = reference::gemm;
  t.convForward = reference::convForward;
  t.convBackwardData = reference::convBackwardData;
  t.convBackwardFilter = reference::convBackwardFilter;
  t.biasAdd = reference::biasAdd;
  t.biasBackward = reference::biasBackward;
  t.activationForward = reference::activationForward;
  t.activationBackward = reference::activationBackward;
  t.softmaxForward = reference::softmaxForward;
  t.softmaxBackward = reference::softmaxBackward;
  t.axpby = reference::axpby;
  t.mul = reference::mul;
  t.sumAll = reference::sumAll;
  t.sumSquares = reference::sumSquares;
  t.sumMiddleForward = reference::sumMiddleForward;
  t.sumMiddleBackward = reference::sumMiddleBackward;
  t.poolForward = reference::poolForward;
  t.poolBackward = reference::poolBackward;
  t.lossForwardBackward = reference::lossForwardBackward;
  t.upsampleForward = reference::upsampleForward;
  t.upsampleBackward = reference::upsampleBackward;
  t.padForward = reference::padForward;
  t.padBackward = reference::padBackward;
  t.copyIntoAxis = reference::copyIntoAxis;
  t.copyFromAxis = reference::copyFromAxis;
  t.batchNormForward = reference::batchNormForward;
  t.batchNormBackward = reference::batchNormBackward;
  t.batchNormStatistics = reference::batchNormStatistics;
  t.batchNormForwardFromStatistics = reference::batchNormForwardFromStatistics;
  t.batchNormBackwardFromSums = reference::batchNormBackwardFromSums;
  t.dropoutForward = reference::dropoutForward;
  t.sgdStep = reference::sgdStep;
  t.adamStep = reference::adamStep;
  t.rmspropStep = reference::rmspropStep;
}

}  // namespace kaon::ops
