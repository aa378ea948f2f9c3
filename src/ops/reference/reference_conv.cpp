// Reference GEMM, direct convolution and bias: loops that mirror the definitions.
#include "reference_kernels.hpp"

namespace kaon::ops::reference {
namespace {

// Flat index of input position (n, c, z, y, x) in an [N, C, D, H, W] tensor.
struct Index5 {
  std::int64_t c, d, h, w;
  std::int64_t operator()(std::int64_t n, std::int64_t ch, std::int64_t z, std::int64_t y, std::int64_t x) const {
    return (((n * c + ch) * d + z) * h + y) * w + x;
  }
};

// Calls f(n, oc, ic, oz, oy, ox, kz, ky, kx, iz, iy, ix) for every in-bounds tap of the conv.
template <class F>
void forEachTap(const ConvGeometry& g, F&& f) {
  for (std::int64_t n = 0; n < g.batch; ++n)
    for (std::int64_t oc = 0; oc < g.outChannels; ++oc)
      for (std::int64_t ic = 0; ic < g.inChannels; ++ic)
        for (std::int64_t oz = 0; oz < g.out[0]; ++oz)
          for (std::int64_t oy = 0; oy < g.out[1]; ++oy)
            for (std::int64_t ox = 0; ox < g.out[2]; ++ox)
              for (std::int64_t kz = 0; kz < g.kernel[0]; ++kz)
                for (std::int64_t ky = 0; ky < g.kernel[1]; ++ky)
                  for (std::int64_t kx = 0; kx < g.kernel[2]; ++kx) {
                    std::int64_t iz = oz * g.stride[0] - g.padBegin[0] + kz * g.dilation[0];
                    std::int64_t iy = oy * g.stride[1] - g.padBegin[1] + ky * g.dilation[1];
                    std::int64_t ix = ox * g.stride[2] - g.padBegin[2] + kx * g.dilation[2];
                    if (iz < 0 || iz >= g.in[0] || iy < 0 || iy >= g.in[1] || ix < 0 || ix >= g.in[2]) continue;
                    f(n, oc, ic, oz, oy, ox, kz, ky, kx, iz, iy, ix);
                  }
}

}  // namespace

void gemm(bool transA, bool transB, double alpha, const Tensor& a, const Tensor& b, double beta, const Tensor& c) {
  dispatchFloat(c.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* A = a.data<T>();
    const T* B = b.data<T>();
    T* C = c.data<T>();
    std::int64_t M = c.dim(0), N = c.dim(1), K = transA ? a.dim(0) : a.dim(1);
    std::int64_t lda = a.dim(1), ldb = b.dim(1);
    for (std::int64_t i = 0; i < M; ++i)
      for (std::int64_t j = 0; j < N; ++j) {
        double acc = 0;
        for (std::int64_t k = 0; k < K; ++k) {
          double av = transA ? A[k * lda + i] : A[i * lda + k];
          double bv = transB ? B[j * ldb + k] : B[k * ldb + j];
          acc += av * bv;
        }
        double old = beta == 0.0 ? 0.0 : beta * C[i * N + j];
        C[i * N + j] = static_cast<T>(alpha * acc + old);
      }
  });
}

void convForward(const Tensor& x, const Tensor& w, const Tensor& y, const ConvGeometry& g) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    const T* W = w.data<T>();
    T* Y = y.data<T>();
    std::vector<double> acc(static_cast<std::size_t>(y.numel()), 0.0);
    Index5 xi{g.inChannels, g.in[0], g.in[1], g.in[2]};
    Index5 yi{g.outChannels, g.out[0], g.out[1], g.out[2]};
    Index5 wi{g.inChannels, g.kernel[0], g.kernel[1], g.kernel[2]};
    forEachTap(g, [&](auto n, auto oc, auto ic, auto oz, auto oy, auto ox, auto kz, auto ky, auto kx, auto iz,
                      auto iy, auto ix) {
      acc[yi(n, oc, oz, oy, ox)] += static_cast<double>(X[xi(n, ic, iz, iy, ix)]) * W[wi(oc, ic, kz, ky, kx)];
    });
    for (std::int64_t i = 0; i < y.numel(); ++i) Y[i] = static_cast<T>(acc[i]);
  });
}

void convBackwardData(const Tensor& dy, const Tensor& w, const Tensor& dx, double beta, const ConvGeometry& g) {
  dispatchFloat(dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* DY = dy.data<T>();
    const T* W = w.data<T>();
    T* DX = dx.data<T>();
    std::vector<double> acc(static_cast<std::size_t>(dx.numel()), 0.0);
    Index5 xi{g.inChannels, g.in[0], g.in[1], g.in[2]};
    Index5 yi{g.outChannels, g.out[0], g.out[1], g.out[2]};
    Index5 wi{g.inChannels, g.kernel[0], g.kernel[1], g.kernel[2]};
    forEachTap(g, [&](auto n, auto oc, auto ic, auto oz, auto oy, auto ox, auto kz, auto ky, auto kx, auto iz,
                      auto iy, auto ix) {
      acc[xi(n, ic, iz, iy, ix)] += static_cast<double>(DY[yi(n, oc, oz, oy, ox)]) * W[wi(oc, ic, kz, ky, kx)];
    });
    for (std::int64_t i = 0; i < dx.numel(); ++i)
      DX[i] = static_cast<T>(acc[i] + (beta == 0.0 ? 0.0 : beta * DX[i]));
  });
}

void convBackwardFilter(const Tensor& x, const Tensor& dy, const Tensor& dw, double beta, const ConvGeometry& g) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    const T* DY = dy.data<T>();
    T* DW = dw.data<T>();
    std::vector<double> acc(static_cast<std::size_t>(dw.numel()), 0.0);
    Index5 xi{g.inChannels, g.in[0], g.in[1], g.in[2]};
    Index5 yi{g.outChannels, g.out[0], g.out[1], g.out[2]};
    Index5 wi{g.inChannels, g.kernel[0], g.kernel[1], g.kernel[2]};
    forEachTap(g, [&](auto n, auto oc, auto ic, auto oz, auto oy, auto ox, auto kz, auto ky, auto kx, auto iz,
                      auto iy, auto ix) {
      acc[wi(oc, ic, kz, ky, kx)] += static_cast<double>(DY[yi(n, oc, oz, oy, ox)]) * X[xi(n, ic, iz, iy, ix)];
    });
    for (std::int64_t i = 0; i < dw.numel(); ++i)
      DW[i] = static_cast<T>(acc[i] + (beta == 0.0 ? 0.0 : beta * DW[i]));
  });
}

void biasAdd(const Tensor& y, const Tensor& b) {
  dispatchFloat(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* Y = y.data<T>();
    const T* B = b.data<T>();
    std::int64_t N = y.dim(0), C = y.dim(1), inner = y.shape().count(2, y.rank());
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t c = 0; c < C; ++c)
        for (std::int64_t i = 0; i < inner; ++i) Y[(n * C + c) * inner + i] += B[c];
  });
}

void biasBackward(const Tensor& dy, const Tensor& db, double beta) {
  dispatchFloat(dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* DY = dy.data<T>();
    T* DB = db.data<T>();
    std::int64_t N = dy.dim(0), C = dy.dim(1), inner = dy.shape().count(2, dy.rank());
    for (std::int64_t c = 0; c < C; ++c) {
      double acc = 0;
      for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t i = 0; i < inner; ++i) acc += DY[(n * C + c) * inner + i];
      DB[c] = static_cast<T>(acc + (beta == 0.0 ? 0.0 : beta * DB[c]));
    }
  });
}

}  // namespace kaon::ops::reference
