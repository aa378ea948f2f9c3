// Convolution as im2col + GEMM, one sample at a time.
//
// float32 goes first to the implicit-im2col kernels of conv_gemm.hpp (Kaon's AVX2 sgemm, no
// column buffer); what they do not cover (float64, builds without AVX2, backward data with a
// stride > 1) takes the Eigen path below.
//
// Per sample n, with CK = C*KD*KH*KW and P = OD*OH*OW:
//   forward          Y_n [OC, P]  = W [OC, CK] * col(X_n) [CK, P]
//   backward data    dX_n         = col2im(W^T [CK, OC] * dY_n [OC, P])
//   backward filter  dW [OC, CK] += dY_n [OC, P] * col(X_n)^T [P, CK]
// Samples are spread over OpenMP threads, each with its own column buffer (and its own dW
// partial sum, reduced at the end); with fewer samples than threads the loop runs serially
// and Eigen threads the GEMM instead. A 1x1 stride-1 unpadded conv skips im2col entirely.
#include <omp.h>

#include <cstring>
#include <type_traits>

#include "conv_gemm.hpp"
#include "cpu_kernels.hpp"
#include "kaon/core/runtime.hpp"

namespace kaon::ops::cpu {
namespace {

bool isPointwise(const ConvGeometry& g) {
  for (int a = 0; a < 3; ++a)
    if (g.kernel[a] != 1 || g.stride[a] != 1 || g.padBegin[a] != 0 || g.padEnd[a] != 0) return false;
  return true;
}

// col [CK, P] from one sample's input [C, D, H, W].
template <class T>
void im2col(const T* x, T* col, const ConvGeometry& g) {
  const std::int64_t OD = g.out[0], OH = g.out[1], OW = g.out[2];
  const std::int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const std::int64_t rows = g.inChannels * g.kernelVolume();
  for (std::int64_t r = 0; r < rows; ++r) {
    std::int64_t kx = r % g.kernel[2], ky = r / g.kernel[2] % g.kernel[1];
    std::int64_t kz = r / (g.kernel[2] * g.kernel[1]) % g.kernel[0], c = r / g.kernelVolume();
    const T* xc = x + c * D * H * W;
    T* out = col + r * OD * OH * OW;
    for (std::int64_t oz = 0; oz < OD; ++oz) {
      std::int64_t iz = oz * g.stride[0] - g.padBegin[0] + kz * g.dilation[0];
      for (std::int64_t oy = 0; oy < OH; ++oy, out += OW) {
        std::int64_t iy = oy * g.stride[1] - g.padBegin[1] + ky * g.dilation[1];
        if (iz < 0 || iz >= D || iy < 0 || iy >= H) {
          std::fill_n(out, OW, T(0));
          continue;
        }
        const T* row = xc + (iz * H + iy) * W;
        std::int64_t x0 = kx * g.dilation[2] - g.padBegin[2];
        if (g.stride[2] == 1) {
          // Contiguous run: zeros, a copy of the in-bounds part, zeros.
          std::int64_t lo = std::clamp<std::int64_t>(-x0, 0, OW), hi = std::clamp<std::int64_t>(W - x0, lo, OW);
          std::fill_n(out, lo, T(0));
          std::memcpy(out + lo, row + x0 + lo, sizeof(T) * (hi - lo));
          std::fill_n(out + hi, OW - hi, T(0));
        } else {
          for (std::int64_t ox = 0; ox < OW; ++ox) {
            std::int64_t ix = x0 + ox * g.stride[2];
            out[ox] = (ix >= 0 && ix < W) ? row[ix] : T(0);
          }
        }
      }
    }
  }
}

// dx [C, D, H, W] += col2im(dcol [CK, P]); dx must be zeroed (or hold what to add to).
template <class T>
void col2imAdd(const T* col, T* dx, const ConvGeometry& g) {
  const std::int64_t OD = g.out[0], OH = g.out[1], OW = g.out[2];
  const std::int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const std::int64_t rows = g.inChannels * g.kernelVolume();
  for (std::int64_t r = 0; r < rows; ++r) {
    std::int64_t kx = r % g.kernel[2], ky = r / g.kernel[2] % g.kernel[1];
    std::int64_t kz = r / (g.kernel[2] * g.kernel[1]) % g.kernel[0], c = r / g.kernelVolume();
    T* xc = dx + c * D * H * W;
    const T* in = col + r * OD * OH * OW;
    for (std::int64_t oz = 0; oz < OD; ++oz) {
      std::int64_t iz = oz * g.stride[0] - g.padBegin[0] + kz * g.dilation[0];
      for (std::int64_t oy = 0; oy < OH; ++oy, in += OW) {
        std::int64_t iy = oy * g.stride[1] - g.padBegin[1] + ky * g.dilation[1];
        if (iz < 0 || iz >= D || iy < 0 || iy >= H) continue;
        T* row = xc + (iz * H + iy) * W;
        std::int64_t x0 = kx * g.dilation[2] - g.padBegin[2];
        std::int64_t lo = 0, hi = OW;
        if (g.stride[2] == 1) {
          lo = std::clamp<std::int64_t>(-x0, 0, OW);
          hi = std::clamp<std::int64_t>(W - x0, lo, OW);
          for (std::int64_t ox = lo; ox < hi; ++ox) row[x0 + ox] += in[ox];
        } else {
          for (std::int64_t ox = lo; ox < hi; ++ox) {
            std::int64_t ix = x0 + ox * g.stride[2];
            if (ix >= 0 && ix < W) row[ix] += in[ox];
          }
        }
      }
    }
  }
}

// Runs body(n, threadIndex) for every sample, in parallel across samples when there are enough.
template <class F>
void forSamples(std::int64_t batch, F&& body) {
  int threads = numThreads();
  if (batch >= threads && threads > 1) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (std::int64_t n = 0; n < batch; ++n) body(n, omp_get_thread_num());
  } else {
    for (std::int64_t n = 0; n < batch; ++n) body(n, 0);
  }
}

}  // namespace

void convForward(const Tensor& x, const Tensor& w, const Tensor& y, const ConvGeometry& g) {
  if (x.dtype() == DType::Float32 && convForwardF32(x, w, y, g)) return;
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const std::int64_t CK = g.inChannels * g.kernelVolume(), P = g.outSpatial();
    const bool pointwise = isPointwise(g);
    ConstMatrixMap<T> W(w.data<T>(), g.outChannels, CK);
    forSamples(g.batch, [&](std::int64_t n, int) {
      const T* xn = x.data<T>() + n * g.inChannels * g.inSpatial();
      const T* col = xn;
      if (!pointwise) {
        T* buf = threadScratch<T>(static_cast<std::size_t>(CK * P));
        im2col(xn, buf, g);
        col = buf;
      }
      RowMajorMap<T> Y(y.data<T>() + n * g.outChannels * P, g.outChannels, P);
      Y.noalias() = W * ConstMatrixMap<T>(col, CK, P);
    });
  });
}

// Float32: bias and activation in the GEMM's store (conv_gemm.hpp). Otherwise three passes.
void convForwardFused(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y, const ConvGeometry& g,
                      Activation act, double alpha) {
  if (x.dtype() == DType::Float32) {
    const GemmEpilogue e{b.defined() ? b.data<float>() : nullptr, act, static_cast<float>(alpha)};
    if (convForwardF32(x, w, y, g, &e)) return;
  }
  convForward(x, w, y, g);
  if (b.defined()) biasAdd(y, b);
  if (act != Activation::Identity) activationForward(act, alpha, y, y);
}

void convBackwardData(const Tensor& dy, const Tensor& w, const Tensor& dx, double beta, const ConvGeometry& g) {
  if (dy.dtype() == DType::Float32 && convBackwardDataF32(dy, w, dx, beta, g)) return;
  dispatchFloat(dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const std::int64_t CK = g.inChannels * g.kernelVolume(), P = g.outSpatial();
    const std::int64_t sampleIn = g.inChannels * g.inSpatial();
    const bool pointwise = isPointwise(g);
    ConstMatrixMap<T> W(w.data<T>(), g.outChannels, CK);
    forSamples(g.batch, [&](std::int64_t n, int) {
      ConstMatrixMap<T> DY(dy.data<T>() + n * g.outChannels * P, g.outChannels, P);
      T* dxn = dx.data<T>() + n * sampleIn;
      if (pointwise) {
        RowMajorMap<T> DX(dxn, CK, P);
        if (beta == 0.0) DX.noalias() = W.transpose() * DY;
        else {
          if (beta != 1.0) DX *= static_cast<T>(beta);
          DX.noalias() += W.transpose() * DY;
        }
        return;
      }
      T* dcol = threadScratch<T>(static_cast<std::size_t>(CK * P));
      if constexpr (std::is_same_v<T, float>)  // dcol [CK, P] = W^T [CK, OC] * dY_n [OC, P]
        gemmF32(true, false, 1.f, w.data<float>(), CK, DY.data(), P, 0.f, dcol, CK, P, g.outChannels, numThreads());
      else
        RowMajorMap<T>(dcol, CK, P).noalias() = W.transpose() * DY;
      if (beta == 0.0) std::fill_n(dxn, sampleIn, T(0));
      else if (beta != 1.0) for (std::int64_t i = 0; i < sampleIn; ++i) dxn[i] *= static_cast<T>(beta);
      col2imAdd(dcol, dxn, g);
    });
  });
}

void convBackwardFilter(const Tensor& x, const Tensor& dy, const Tensor& dw, double beta, const ConvGeometry& g) {
  if (x.dtype() == DType::Float32 && convBackwardFilterF32(x, dy, dw, beta, g)) return;
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const std::int64_t CK = g.inChannels * g.kernelVolume(), P = g.outSpatial();
    const std::int64_t wsize = g.outChannels * CK;
    const bool pointwise = isPointwise(g);
    const int threads = numThreads();
    // One partial dW per thread, summed afterwards; deterministic for a fixed thread count.
    std::vector<T> partial(static_cast<std::size_t>(wsize) * threads, T(0));
    forSamples(g.batch, [&](std::int64_t n, int t) {
      const T* xn = x.data<T>() + n * g.inChannels * g.inSpatial();
      const T* col = xn;
      if (!pointwise) {
        T* buf = threadScratch<T>(static_cast<std::size_t>(CK * P));
        im2col(xn, buf, g);
        col = buf;
      }
      ConstMatrixMap<T> DY(dy.data<T>() + n * g.outChannels * P, g.outChannels, P);
      RowMajorMap<T> DW(partial.data() + t * wsize, g.outChannels, CK);
      DW.noalias() += DY * ConstMatrixMap<T>(col, CK, P).transpose();
    });
    T* out = dw.data<T>();
#pragma omp parallel for schedule(static) num_threads(threads)
    for (std::int64_t i = 0; i < wsize; ++i) {
      T acc = beta == 0.0 ? T(0) : static_cast<T>(beta * out[i]);
      for (int t = 0; t < threads; ++t) acc += partial[t * wsize + i];
      out[i] = acc;
    }
  });
}

void biasAdd(const Tensor& y, const Tensor& b) {
  dispatchFloat(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* Y = y.data<T>();
    const T* B = b.data<T>();
    const std::int64_t N = y.dim(0), C = y.dim(1), inner = y.shape().count(2, y.rank());
#pragma omp parallel for schedule(static) if (N * C * inner > 32768)
    for (std::int64_t nc = 0; nc < N * C; ++nc) {
      T v = B[nc % C];
      T* row = Y + nc * inner;
      for (std::int64_t i = 0; i < inner; ++i) row[i] += v;
    }
  });
}

void biasBackward(const Tensor& dy, const Tensor& db, double beta) {
  dispatchFloat(dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* DY = dy.data<T>();
    T* DB = db.data<T>();
    const std::int64_t N = dy.dim(0), C = dy.dim(1), inner = dy.shape().count(2, dy.rank());
#pragma omp parallel for schedule(static) if (N * C * inner > 32768)
    for (std::int64_t c = 0; c < C; ++c) {
      double acc = 0;
      for (std::int64_t n = 0; n < N; ++n) {
        const T* row = DY + (n * C + c) * inner;
        T s = 0;
#pragma omp simd reduction(+ : s)
        for (std::int64_t i = 0; i < inner; ++i) s += row[i];
        acc += s;
      }
      DB[c] = static_cast<T>(acc + (beta == 0.0 ? 0.0 : beta * DB[c]));
    }
  });
}

}  // namespace kaon::ops::cpu
