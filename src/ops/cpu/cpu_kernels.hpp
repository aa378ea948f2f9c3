#pragma once
// Optimised CPU kernels: Eigen for dense algebra, OpenMP across samples/planes.
#include <Eigen/Core>

#include "../kernel_table.hpp"

namespace kaon::ops::cpu {

template <class T>
using ConstMatrixMap =
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, Eigen::Unaligned>;
template <class T>
using RowMajorMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, Eigen::Unaligned>;

// Row-major float32 GEMM on raw pointers: C[m, n] (ld n) = alpha * op(A) * op(B) + beta * C, with
// op(A) [m, k] stored with leading dimension lda (as [k, m] when transA), likewise B.
// threads > 1 splits the product across OpenMP threads (ignored inside a parallel region).
void gemmF32(bool transA, bool transB, float alpha, const float* a, std::int64_t lda, const float* b,
             std::int64_t ldb, float beta, float* c, std::int64_t m, std::int64_t n, std::int64_t k, int threads);
void gemm(bool transA, bool transB, double alpha, const Tensor& a, const Tensor& b, double beta, const Tensor& c);
void convForward(const Tensor& x, const Tensor& w, const Tensor& y, const ConvGeometry& g);
void convForwardFused(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y, const ConvGeometry& g,
                      Activation act, double alpha);
void convBackwardData(const Tensor& dy, const Tensor& w, const Tensor& dx, double beta, const ConvGeometry& g);
void convBackwardFilter(const Tensor& x, const Tensor& dy, const Tensor& dw, double beta, const ConvGeometry& g);
void biasAdd(const Tensor& y, const Tensor& b);
void biasBackward(const Tensor& dy, const Tensor& db, double beta);

void activationForward(Activation kind, double alpha, const Tensor& x, const Tensor& y);
void activationBackward(Activation kind, double alpha, const Tensor& x, const Tensor& y, const Tensor& dy,
                        const Tensor& dx, double beta);
void softmaxForward(const Tensor& x, const Tensor& y);
void softmaxBackward(const Tensor& y, const Tensor& dy, const Tensor& dx, double beta);
void axpby(double alpha, const Tensor& a, double beta, const Tensor& b, const Tensor& out);
void mul(const Tensor& a, const Tensor& b, const Tensor& out);
double sumAll(const Tensor& x);
double sumSquares(const Tensor& x);
void sumMiddleForward(const Tensor& x, const Tensor& y, std::int64_t outer, std::int64_t size, std::int64_t inner);
void sumMiddleBackward(const Tensor& dy, const Tensor& dx, double beta, std::int64_t outer, std::int64_t size,
                       std::int64_t inner);

void poolForward(PoolKind kind, bool includePad, const Tensor& x, const Tensor& y, const Tensor& argmax,
                 const ConvGeometry& g);
void poolBackward(PoolKind kind, bool includePad, const Tensor& dy, const Tensor& argmax, const Tensor& dx,
                  double beta, const ConvGeometry& g);
void lossForwardBackward(LossKind kind, const Tensor& pred, const Tensor& target, const Tensor& weight,
                         double gradScale, const Tensor& loss, const Tensor& grad);

void upsampleForward(const Tensor& x, const Tensor& y, std::array<int, 3> factors);
void upsampleBackward(const Tensor& dy, const Tensor& dx, double beta, std::array<int, 3> factors);
void padForward(const Tensor& x, const Tensor& y, std::array<int, 3> before);
void padBackward(const Tensor& dy, const Tensor& dx, double beta, std::array<int, 3> before);
void copyIntoAxis(const Tensor& src, const Tensor& dst, int axis, std::int64_t offset);
void copyFromAxis(const Tensor& src, const Tensor& dst, int axis, std::int64_t offset, double beta);

void batchNormForward(bool training, double momentum, double eps, const Tensor& x, const Tensor& gamma,
                      const Tensor& beta, const Tensor& runningMean, const Tensor& runningVar, const Tensor& y,
                      const Tensor& saveMean, const Tensor& saveInvStd);
void batchNormBackward(bool training, const Tensor& x, const Tensor& dy, const Tensor& gamma, const Tensor& saveMean,
                       const Tensor& saveInvStd, const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta,
                       double betaAcc);
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

// Per-thread scratch memory, grown on demand and reused across calls (no allocation per step).
template <class T>
T* threadScratch(std::size_t count, int slot = 0);

}  // namespace kaon::ops::cpu
