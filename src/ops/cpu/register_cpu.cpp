#include "cpu_kernels.hpp"

namespace kaon::ops {

void registerCpuKernels(KernelTable& t) {
  t.gemm = cpu::gemm;
  t.convForward = cpu::convForward;
  t.convForwardFused = cpu::convForwardFused;
  t.convBackwardData = cpu::convBackwardData;
  t.convBackwardFilter = cpu::convBackwardFilter;
  t.biasAdd = cpu::biasAdd;
  t.biasBackward = cpu::biasBackward;
  t.activationForward = cpu::activationForward;
  t.activationBackward = cpu::activationBackward;
  t.softmaxForward = cpu::softmaxForward;
  t.softmaxBackward = cpu::softmaxBackward;
  t.axpby = cpu::axpby;
  t.mul = cpu::mul;
  t.sumAll = cpu::sumAll;
  t.sumSquares = cpu::sumSquares;
  t.sumMiddleForward = cpu::sumMiddleForward;
  t.sumMiddleBackward = cpu::sumMiddleBackward;
  t.poolForward = cpu::poolForward;
  t.poolBackward = cpu::poolBackward;
  t.lossForwardBackward = cpu::lossForwardBackward;
  t.upsampleForward = cpu::upsampleForward;
  t.upsampleBackward = cpu::upsampleBackward;
  t.padForward = cpu::padForward;
  t.padBackward = cpu::padBackward;
  t.copyIntoAxis = cpu::copyIntoAxis;
  t.copyFromAxis = cpu::copyFromAxis;
  t.batchNormForward = cpu::batchNormForward;
  t.batchNormBackward = cpu::batchNormBackward;
  t.batchNormStatistics = cpu::batchNormStatistics;
  t.batchNormForwardFromStatistics = cpu::batchNormForwardFromStatistics;
  t.batchNormBackwardFromSums = cpu::batchNormBackwardFromSums;
  t.dropoutForward = cpu::dropoutForward;
  t.sgdStep = cpu::sgdStep;
  t.adamStep = cpu::adamStep;
  t.rmspropStep = cpu::rmspropStep;
}

}  // namespace kaon::ops
