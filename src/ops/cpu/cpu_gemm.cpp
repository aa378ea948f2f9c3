// GEMM through Eigen's blocked, vectorised kernel (multi-threaded with OpenMP outside of
// parallel regions). Row-major maps match Kaon's C-order tensors.
#include <omp.h>

#include "cpu_kernels.hpp"

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

void gemm(bool transA, bool transB, double alpha, const Tensor& a, const Tensor& b, double beta, const Tensor& c) {
  dispatchFloat(c.dtype(), [&](auto tag) {
    using T = decltype(tag);
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
  });
}

}  // namespace kaon::ops::cpu
