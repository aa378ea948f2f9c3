// GEMM: float32 through Kaon's own AVX2 kernel (sgemm.hpp) when compiled in, otherwise and for
// float64 through Eigen's blocked kernel. Row-major maps match Kaon's C-order tensors.
#include <omp.h>

#include "cpu_kernels.hpp"
#include "kaon/core/runtime.hpp"
#include "sgemm.hpp"

namespace kaon::ops::cpu {

template <class T>
T* threadScratch(std::size_t count, int slot) {
  constexpr int kSlots = 4;
  thread_local std::vector<T> buffers[kSlots];
  auto& b = buffers[slot];
  if (b.size() < count) b.resize(count);
  return b.data();
}
template float* threadScratch<float>(std::size_t, int);
template double* threadScratch<double>(std::size_t, int);

namespace {

template <class T>
void eigenGemm(bool transA, bool transB, double alpha, const Tensor& a, const Tensor& b, double beta, const Tensor& c) {
  ConstMatrixMap<T> A(a.data<T>(), a.dim(0), a.dim(1));
  ConstMatrixMap<T> B(b.data<T>(), b.dim(0), b.dim(1));
  RowMajorMap<T> C(c.data<T>(), c.dim(0), c.dim(1));
  const T al = static_cast<T>(alpha);
  if (beta == 0.0)
    C.setZero();
  else if (beta != 1.0)
    C *= static_cast<T>(beta);
  if (!transA && !transB) C.noalias() += al * A * B;
  else if (transA && !transB) C.noalias() += al * A.transpose() * B;
  else if (!transA && transB) C.noalias() += al * A * B.transpose();
  else C.noalias() += al * A.transpose() * B.transpose();
}

}  // namespace

void gemmF32(bool transA, bool transB, float alpha, const float* a, std::int64_t lda, const float* b,
             std::int64_t ldb, float beta, float* c, std::int64_t m, std::int64_t n, std::int64_t k, int threads) {
  StridedMatrix A = transA ? StridedMatrix{a, 1, lda} : StridedMatrix{a, lda, 1};
  StridedMatrix B = transB ? StridedMatrix{b, 1, ldb} : StridedMatrix{b, ldb, 1};
  if (sgemmAvailable()) {
    sgemm(m, n, k, alpha, A, B, beta, c, n, threads);
    return;
  }
  using Map = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0,
                         Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;
  Map Am(a, m, k, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(A.rowStride, A.colStride));
  Map Bm(b, k, n, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(B.rowStride, B.colStride));
  RowMajorMap<float> C(c, m, n);
  if (beta == 0.f) C.setZero();
  else if (beta != 1.f) C *= beta;
  C.noalias() += alpha * Am * Bm;
}

void gemm(bool transA, bool transB, double alpha, const Tensor& a, const Tensor& b, double beta, const Tensor& c) {
  if (c.dtype() == DType::Float32) {
    const std::int64_t m = c.dim(0), n = c.dim(1), k = transA ? a.dim(0) : a.dim(1);
    gemmF32(transA, transB, static_cast<float>(alpha), a.data<float>(), a.dim(1), b.data<float>(), b.dim(1),
            static_cast<float>(beta), c.data<float>(), m, n, k, numThreads());
    return;
  }
  dispatchFloat(c.dtype(), [&](auto tag) { eigenGemm<decltype(tag)>(transA, transB, alpha, a, b, beta, c); });
}

}  // namespace kaon::ops::cpu
