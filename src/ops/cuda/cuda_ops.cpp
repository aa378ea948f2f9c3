// Tensor-level wrappers of Kaon's own CUDA kernels: unpack shapes and pointers, pick the dtype,
// launch on the device's compute stream and check the launch.
#include <cmath>

#include "../../cuda/cuda_check.hpp"
#include "../../cuda/cuda_context.hpp"
#include "cuda_dtype.hpp"
#include "cuda_kernels.hpp"
#include "cuda_launch.hpp"
#include "kaon/ops/counter_rng.hpp"

namespace kaon::ops::cudak {
namespace {

cudaStream_t streamOf(const Tensor& t) { return kaon::cuda::computeStream(t.device().index); }



cuda::Geom3 geom3(const ConvGeometry& g) {
  cuda::Geom3 r;
  r.planes = g.batch * g.inChannels;
  for (int a = 0; a < 3; ++a) {
    r.in[a] = g.in[a], r.out[a] = g.out[a], r.kernel[a] = g.kernel[a];
    r.stride[a] = g.stride[a], r.dilation[a] = g.dilation[a], r.padBegin[a] = g.padBegin[a], r.padEnd[a] = g.padEnd[a];
  }
  return r;
}

// Planes and trailing three spatial sizes of an NC[D]HW tensor (missing axes are 1).
void spatial3(const Tensor& t, std::int64_t& planes, std::int64_t dims[3]) {
  KAON_CHECK(t.rank() >= 3 && t.rank() <= 5, "pad: NC[D]HW tensor expected, got {}", t.shape().str());
  planes = t.dim(0) * t.dim(1);
  for (int a = 0; a < 3; ++a) {
    int axis = t.rank() - 3 + a;
    dims[a] = axis >= 2 ? t.dim(axis) : 1;
  }
}

double reduce(const Tensor& x, bool squares) {
  if (x.numel() == 0) return 0.0;
  Tensor scratch = Tensor::empty(Shape{cuda::kReduceBlocks + 1}, DType::Float64, x.device());
  double* s = scratch.data<double>();
  dispatch(squares ? "sum_squares" : "sum", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::reduceSum<T>(x.data<T>(), x.numel(), squares, s, s + cuda::kReduceBlocks, streamOf(x));
  });
  double result = 0;
  cudaStream_t st = streamOf(x);
  KAON_CUDA_CHECK(cudaMemcpyAsync(&result, s + cuda::kReduceBlocks, sizeof(double), cudaMemcpyDeviceToHost, st));
  KAON_CUDA_CHECK(cudaStreamSynchronize(st));
  return result;
}

}  // namespace

void biasAdd(const Tensor& y, const Tensor& b) {
  std::int64_t N = y.dim(0), C = y.dim(1), inner = y.shape().count(2, y.rank());
  dispatch("bias", y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::biasAdd<T>(y.data<T>(), b.data<T>(), N, C, inner, streamOf(y));
  });
}

void biasBackward(const Tensor& dy, const Tensor& db, double beta) {
  std::int64_t N = dy.dim(0), C = dy.dim(1), inner = dy.shape().count(2, dy.rank());
  Tensor scratch = Tensor::empty(Shape{std::max<std::int64_t>(1, C * cuda::biasBackwardChunks(N, C))}, DType::Float64,
                                 dy.device());
  dispatch("bias backward", dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::biasBackward<T>(dy.data<T>(), db.data<T>(), beta, N, C, inner, scratch.data<double>(), streamOf(dy));
  });
}

void biasActivation(const Tensor& y, const Tensor& b, Activation kind, double alpha) {
  std::int64_t N = y.dim(0), C = y.dim(1), inner = y.shape().count(2, y.rank());
  dispatch("bias + activation", y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::biasActivation<T>(y.data<T>(), ptr<T>(b), kind, alpha, N, C, inner, streamOf(y));
  });
}

void activationForward(Activation kind, double alpha, const Tensor& x, const Tensor& y) {
  dispatch("activation", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::activationForward<T>(kind, alpha, x.data<T>(), y.data<T>(), x.numel(), streamOf(x));
  });
}

void activationBackward(Activation kind, double alpha, const Tensor& x, const Tensor&, const Tensor& dy,
                        const Tensor& dx, double beta) {
  dispatch("activation backward", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::activationBackward<T>(kind, alpha, x.data<T>(), dy.data<T>(), dx.data<T>(), beta, x.numel(), streamOf(x));
  });
}

void softmaxForward(const Tensor& x, const Tensor& y) {
  std::int64_t N = x.dim(0), C = x.dim(1), inner = x.shape().count(2, x.rank());
  dispatch("softmax", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::softmaxForward<T>(x.data<T>(), y.data<T>(), N, C, inner, streamOf(x));
  });
}

void softmaxBackward(const Tensor& y, const Tensor& dy, const Tensor& dx, double beta) {
  std::int64_t N = y.dim(0), C = y.dim(1), inner = y.shape().count(2, y.rank());
  dispatch("softmax backward", y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::softmaxBackward<T>(y.data<T>(), dy.data<T>(), dx.data<T>(), beta, N, C, inner, streamOf(y));
  });
}

void axpby(double alpha, const Tensor& a, double beta, const Tensor& b, const Tensor& out) {
  dispatch("axpby", out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::axpby<T>(alpha, a.data<T>(), beta, b.data<T>(), out.data<T>(), out.numel(), streamOf(out));
  });
}

void mul(const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch("mul", out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::mul<T>(a.data<T>(), b.data<T>(), out.data<T>(), out.numel(), streamOf(out));
  });
}

void convert(const Tensor& src, const Tensor& dst, double scale) {
  dispatch("convert", src.dtype(), [&](auto srcTag) {
    using S = decltype(srcTag);
    dispatch("convert", dst.dtype(), [&](auto dstTag) {
      using D = decltype(dstTag);
      cuda::convert<S, D>(src.data<S>(), dst.data<D>(), scale, src.numel(), streamOf(src));
    });
  });
}

void dropoutForward(double rate, std::uint64_t seed, std::uint64_t offset, const Tensor& x, const Tensor& y,
                    const Tensor& mask) {
  // The threshold and scale are computed on the host exactly as the CPU kernel computes them.
  const std::uint32_t threshold = counterThreshold24(rate);
  const double scale = 1.0 / (1.0 - rate);
  dispatch("dropout", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::dropoutForward<T>(scale, threshold, seed, offset, x.data<T>(), y.data<T>(), mask.data<T>(), x.numel(),
                            streamOf(x));
  });
}

double sumAll(const Tensor& x) { return reduce(x, false); }
double sumSquares(const Tensor& x) { return reduce(x, true); }

void padForward(const Tensor& x, const Tensor& y, std::array<int, 3> before) {
  cuda::Geom3 g;
  spatial3(x, g.planes, g.in);
  std::int64_t planesOut = 0;
  spatial3(y, planesOut, g.out);
  dispatch("pad", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::padForward<T>(x.data<T>(), y.data<T>(), g, before.data(), streamOf(x));
  });
}

void padBackward(const Tensor& dy, const Tensor& dx, double beta, std::array<int, 3> before) {
  cuda::Geom3 g;
  spatial3(dx, g.planes, g.in);
  std::int64_t planesOut = 0;
  spatial3(dy, planesOut, g.out);
  dispatch("pad backward", dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::padBackward<T>(dy.data<T>(), dx.data<T>(), beta, g, before.data(), streamOf(dy));
  });
}

void poolForward(PoolKind kind, bool includePad, const Tensor& x, const Tensor& y, const Tensor& argmax,
                 const ConvGeometry& g) {
  dispatch("pool", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    std::int32_t* am = kind == PoolKind::Max ? argmax.data<std::int32_t>() : nullptr;
    cuda::poolForward<T>(kind, includePad, x.data<T>(), y.data<T>(), am, geom3(g), streamOf(x));
  });
}

void poolBackward(PoolKind kind, bool includePad, const Tensor& dy, const Tensor& argmax, const Tensor& dx,
                  double beta, const ConvGeometry& g) {
  dispatch("pool backward", dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const std::int32_t* am = kind == PoolKind::Max ? argmax.data<std::int32_t>() : nullptr;
    cuda::poolBackward<T>(kind, includePad, dy.data<T>(), am, dx.data<T>(), beta, geom3(g), streamOf(dy));
  });
}

void lossForwardBackward(LossKind kind, const Tensor& pred, const Tensor& target, const Tensor& weight,
                         double gradScale, const Tensor& loss, const Tensor& grad) {
  std::int64_t N = pred.dim(0), inner = pred.numel() / std::max<std::int64_t>(N, 1);
  dispatch<Types::Wide>("loss", pred.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::lossForwardBackward<T>(kind, pred.data<T>(), target.data<T>(), ptr<T>(weight), gradScale, loss.data<T>(),
                                 ptr<T>(grad), N, inner, streamOf(pred));
  });
}

void sgdStep(const SgdStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& velocity) {
  dispatch<Types::Wide>("sgd step", param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::sgdStep<T>(a.lr, a.momentum, a.weightDecay, a.nesterov, param.data<T>(), grad.data<T>(),
                     a.momentum != 0.0 ? velocity.data<T>() : nullptr, param.numel(), streamOf(param));
  });
}

void adamStep(const AdamStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v) {
  const double t = static_cast<double>(a.step);
  const double bc1 = 1.0 - std::pow(a.beta1, t), bc2 = 1.0 - std::pow(a.beta2, t);
  dispatch<Types::Wide>("adam step", param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::adamStep<T>(a.lr, a.beta1, a.beta2, a.eps, a.weightDecay, a.decoupled, bc1, bc2, param.data<T>(),
                      grad.data<T>(), m.data<T>(), v.data<T>(), param.numel(), streamOf(param));
  });
}

void rmspropStep(const RmspropStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& meanSquare,
                 const Tensor& velocity) {
  dispatch<Types::Wide>("rmsprop step", param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::rmspropStep<T>(a.lr, a.rho, a.eps, a.momentum, a.weightDecay, param.data<T>(), grad.data<T>(),
                         meanSquare.data<T>(), a.momentum != 0.0 ? velocity.data<T>() : nullptr, param.numel(),
                         streamOf(param));
  });
}

}  // namespace kaon::ops::cudak
