// Tensor wrappers of the upsampling, axis-copy and batch-norm kernels (compute stream).
#include "../../cuda/cuda_check.hpp"
#include "../../cuda/cuda_context.hpp"
#include "cuda_dtype.hpp"
#include "cuda_kernels.hpp"
#include "cuda_launch.hpp"

namespace kaon::ops::cudak {
namespace {

cudaStream_t streamOf(const Tensor& t) { return kaon::cuda::computeStream(t.device().index); }

// The batch-norm kernels' partial sums and coefficients for x [N, C, ...].
Tensor batchNormScratch(const Tensor& x) {
  const std::int64_t inner = x.shape().count(2, x.rank());
  KAON_CHECK(x.dim(1) <= 65535, "batch_norm on the cuda backend: {} channels exceed the kernel grid", x.dim(1));
  return Tensor::empty(Shape{cuda::batchNormScratch(x.dim(0), x.dim(1), inner)}, DType::Float64, x.device());
}



// NC[D]HW -> planes and three spatial sizes (missing leading axes are 1).
void spatial3(const Tensor& t, std::int64_t& planes, std::int64_t dims[3]) {
  KAON_CHECK(t.rank() >= 3 && t.rank() <= 5, "NC[D]HW tensor expected, got {}", t.shape().str());
  planes = t.dim(0) * t.dim(1);
  for (int a = 0; a < 3; ++a) {
    int axis = t.rank() - 3 + a;
    dims[a] = axis >= 2 ? t.dim(axis) : 1;
  }
}

// The factor array right-aligned like the spatial sizes: (depth, height, width).
cuda::Geom3 upGeom(const Tensor& small, const Tensor& large) {
  cuda::Geom3 g;
  std::int64_t planes = 0;
  spatial3(small, g.planes, g.in);
  spatial3(large, planes, g.out);
  return g;
}

}  // namespace

// y [N, C, *(in * f)] from x [N, C, *in]
void upsampleForward(const Tensor& x, const Tensor& y, std::array<int, 3> f) {
  cuda::Geom3 g = upGeom(x, y);
  dispatch("upsample", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::upsampleForward<T>(x.data<T>(), y.data<T>(), g, f.data(), streamOf(x));
  });
}

void sumMiddleForward(const Tensor& x, const Tensor& y, std::int64_t outer, std::int64_t size, std::int64_t inner) {
  dispatch("sum over axes", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::sumMiddleForward<T>(x.data<T>(), y.data<T>(), outer, size, inner, streamOf(x));
  });
}

void sumMiddleBackward(const Tensor& dy, const Tensor& dx, double beta, std::int64_t outer, std::int64_t size,
                       std::int64_t inner) {
  dispatch("sum over axes backward", dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::sumMiddleBackward<T>(dy.data<T>(), dx.data<T>(), beta, outer, size, inner, streamOf(dy));
  });
}

void upsampleBackward(const Tensor& dy, const Tensor& dx, double beta, std::array<int, 3> f) {
  cuda::Geom3 g = upGeom(dx, dy);
  dispatch("upsample backward", dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::upsampleBackward<T>(dy.data<T>(), dx.data<T>(), beta, g, f.data(), streamOf(dy));
  });
}

void copyIntoAxis(const Tensor& src, const Tensor& dst, int axis, std::int64_t offset) {
  std::int64_t outer = src.shape().count(0, axis), inner = src.shape().count(axis + 1, src.rank());
  dispatch("concat", src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::copyIntoAxis<T>(src.data<T>(), dst.data<T>(), outer, src.dim(axis), dst.dim(axis), inner, offset,
                          streamOf(src));
  });
}

void copyFromAxis(const Tensor& src, const Tensor& dst, int axis, std::int64_t offset, double beta) {
  std::int64_t outer = dst.shape().count(0, axis), inner = dst.shape().count(axis + 1, dst.rank());
  dispatch("split", src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::copyFromAxis<T>(src.data<T>(), dst.data<T>(), outer, src.dim(axis), dst.dim(axis), inner, offset, beta,
                          streamOf(src));
  });
}

void batchNormForward(bool training, double momentum, double eps, const Tensor& x, const Tensor& gamma,
                      const Tensor& beta, const Tensor& runningMean, const Tensor& runningVar, const Tensor& y,
                      const Tensor& saveMean, const Tensor& saveInvStd) {
  std::int64_t N = x.dim(0), C = x.dim(1), inner = x.shape().count(2, x.rank());
  Tensor scratch = batchNormScratch(x);
  dispatch<Types::Wide>("batch_norm", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::batchNormForward<T>(training, momentum, eps, x.data<T>(), ptr<T>(gamma), ptr<T>(beta),
                              runningMean.data<T>(), runningVar.data<T>(), y.data<T>(), ptr<T>(saveMean),
                              ptr<T>(saveInvStd), N, C, inner, scratch.data<double>(), streamOf(x));
  });
}

void batchNormBackward(bool training, const Tensor& x, const Tensor& dy, const Tensor& gamma, const Tensor& saveMean,
                       const Tensor& saveInvStd, const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta,
                       double betaAcc) {
  std::int64_t N = x.dim(0), C = x.dim(1), inner = x.shape().count(2, x.rank());
  Tensor scratch = batchNormScratch(x);
  dispatch<Types::Wide>("batch_norm backward", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::batchNormBackward<T>(training, x.data<T>(), dy.data<T>(), ptr<T>(gamma), saveMean.data<T>(),
                               saveInvStd.data<T>(), ptr<T>(dx), ptr<T>(dgamma), ptr<T>(dbeta), betaAcc, N, C, inner,
                               scratch.data<double>(), streamOf(x));
  });
}

void batchNormStatistics(const Tensor& x, const Tensor& stats) {
  std::int64_t N = x.dim(0), C = x.dim(1), inner = x.shape().count(2, x.rank());
  Tensor scratch = batchNormScratch(x);
  dispatch<Types::Wide>("batch_norm statistics", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::batchNormStatistics<T>(x.data<T>(), stats.data<double>(), N, C, inner, scratch.data<double>(), streamOf(x));
  });
}

void batchNormForwardFromStatistics(double momentum, double eps, const Tensor& x, const Tensor& gamma,
                                    const Tensor& beta, const Tensor& runningMean, const Tensor& runningVar,
                                    const Tensor& stats, const Tensor& y, const Tensor& saveMean,
                                    const Tensor& saveInvStd) {
  std::int64_t N = x.dim(0), C = x.dim(1), inner = x.shape().count(2, x.rank());
  Tensor scratch = batchNormScratch(x);
  dispatch<Types::Wide>("batch_norm", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::batchNormForwardFromStatistics<T>(momentum, eps, x.data<T>(), ptr<T>(gamma), ptr<T>(beta), ptr<T>(runningMean),
                                            ptr<T>(runningVar), stats.data<double>(), y.data<T>(), saveMean.data<T>(),
                                            saveInvStd.data<T>(), N, C, inner, scratch.data<double>(), streamOf(x));
  });
}

void batchNormBackwardFromSums(const Tensor& x, const Tensor& dy, const Tensor& gamma, const Tensor& saveMean,
                               const Tensor& saveInvStd, const Tensor& sums, const Tensor& stats, const Tensor& dx) {
  std::int64_t N = x.dim(0), C = x.dim(1), inner = x.shape().count(2, x.rank());
  Tensor scratch = batchNormScratch(x);
  dispatch<Types::Wide>("batch_norm backward", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::batchNormBackwardFromSums<T>(x.data<T>(), dy.data<T>(), ptr<T>(gamma), saveMean.data<T>(),
                                       saveInvStd.data<T>(), sums.data<T>(), stats.data<double>(), dx.data<T>(), N, C, inner,
                                       scratch.data<double>(), streamOf(x));
  });
}

}  // namespace kaon::ops::cudak
