#pragma once
// CUDA kernel-table entries (same contracts as kernel_table.hpp). All run on the compute stream
// of the tensors' device and return without waiting, except sumAll/sumSquares, which copy their
// result to the host and therefore synchronise that stream.
#include "../kernel_table.hpp"

namespace kaon::ops::cudak {

void gemm(bool transA, bool transB, double alpha, const Tensor& a, const Tensor& b, double beta, const Tensor& c);

void convForward(const Tensor& x, const Tensor& w, const Tensor& y, const ConvGeometry& g);
void convBackwardData(const Tensor& dy, const Tensor& w, const Tensor& dx, double beta, const ConvGeometry& g);
void convBackwardFilter(const Tensor& x, const Tensor& dy, const Tensor& dw, double beta, const ConvGeometry& g);
// Forward convolutions run with zero-padded input channels so far (tests check the path ran).
std::int64_t channelPadRuns();

void biasAdd(const Tensor& y, const Tensor& b);
void biasBackward(const Tensor& dy, const Tensor& db, double beta);
// y = act(y + b[c]) in place over [N, C, ...]; b may be undefined (the fused conv's epilogue).
void biasActivation(const Tensor& y, const Tensor& b, Activation kind, double alpha);
void convForwardFused(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y, const ConvGeometry& g,
                      Activation act, double alpha);
void activationForward(Activation kind, double alpha, const Tensor& x, const Tensor& y);
void activationBackward(Activation kind, double alpha, const Tensor& x, const Tensor& y, const Tensor& dy,
                        const Tensor& dx, double beta);
void softmaxForward(const Tensor& x, const Tensor& y);
void softmaxBackward(const Tensor& y, const Tensor& dy, const Tensor& dx, double beta);
void axpby(double alpha, const Tensor& a, double beta, const Tensor& b, const Tensor& out);
void mul(const Tensor& a, const Tensor& b, const Tensor& out);
void convert(const Tensor& src, const Tensor& dst, double scale);
double sumAll(const Tensor& x);
double sumSquares(const Tensor& x);
void sumMiddleForward(const Tensor& x, const Tensor& y, std::int64_t outer, std::int64_t size, std::int64_t inner);
void sumMiddleBackward(const Tensor& dy, const Tensor& dx, double beta, std::int64_t outer, std::int64_t size,
                       std::int64_t inner);
void padForward(const Tensor& x, const Tensor& y, std::array<int, 3> before);
void padBackward(const Tensor& dy, const Tensor& dx, double beta, std::array<int, 3> before);

void upsampleForward(const Tensor& x, const Tensor& y, std::array<int, 3> factors);
void upsampleBackward(const Tensor& dy, const Tensor& dx, double beta, std::array<int, 3> factors);
void copyIntoAxis(const Tensor& src, const Tensor& dst, int axis, std::int64_t offset);
void copyFromAxis(const Tensor& src, const Tensor& dst, int axis, std::int64_t offset, double beta);
void batchNormForward(bool training, double momentum, double eps, const Tensor& x, const Tensor& gamma,
                      const Tensor& beta, const Tensor& runningMean, const Tensor& runningVar, const Tensor& y,
                      const Tensor& saveMean, const Tensor& saveInvStd);
void batchNormBackward(bool training, const Tensor& x, const Tensor& dy, const Tensor& gamma, const Tensor& saveMean,
                       const Tensor& saveInvStd, const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta,
                       double betaAcc);

void poolForward(PoolKind kind, bool includePad, const Tensor& x, const Tensor& y, const Tensor& argmax,
                 const ConvGeometry& g);
void poolBackward(PoolKind kind, bool includePad, const Tensor& dy, const Tensor& argmax, const Tensor& dx,
                  double beta, const ConvGeometry& g);
void lossForwardBackward(LossKind kind, const Tensor& pred, const Tensor& target, const Tensor& weight,
                         double gradScale, const Tensor& loss, const Tensor& grad);

void batchNormStatistics(const Tensor& x, const Tensor& stats);
void batchNormForwardFromStatistics(double momentum, double eps, const Tensor& x, const Tensor& gamma,
                                    const Tensor& beta, const Tensor& runningMean, const Tensor& runningVar,
                                    const Tensor& stats, const Tensor& y, const Tensor& saveMean,
                                    const Tensor& saveInvStd);
void batchNormBackwardFromSums(const Tensor& x, const Tensor& dy, const Tensor& gamma, const Tensor& saveMean,
                               const Tensor& saveInvStd, const Tensor& sums, const Tensor& stats, const Tensor& dx);
void dropoutForward(double rate, std::uint64_t seed, std::uint64_t offset, const Tensor& x, const Tensor& y,
                    const Tensor& mask);

void sgdStep(const SgdStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& velocity);
void adamStep(const AdamStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v);
void rmspropStep(const RmspropStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& meanSquare,
                 const Tensor& velocity);

}  // namespace kaon::ops::cudak
