// Reference pooling and losses.
#include <cmath>
#include <limits>

#include "reference_kernels.hpp"

namespace kaon::ops::reference {

void poolForward(PoolKind kind, bool includePad, const Tensor& x, const Tensor& y, const Tensor& argmax,
                 const ConvGeometry& g) {
  dispatchFloat(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    T* Y = y.data<T>();
    std::int32_t* A = kind == PoolKind::Max ? argmax.data<std::int32_t>() : nullptr;
    std::int64_t planeIn = g.inSpatial(), planeOut = g.outSpatial();
    for (std::int64_t p = 0; p < g.batch * g.inChannels; ++p)
      for (std::int64_t oz = 0; oz < g.out[0]; ++oz)
        for (std::int64_t oy = 0; oy < g.out[1]; ++oy)
          for (std::int64_t ox = 0; ox < g.out[2]; ++ox) {
            double best = -std::numeric_limits<double>::infinity(), acc = 0;
            std::int64_t bestAt = -1, count = 0, padCount = 0;
            for (std::int64_t kz = 0; kz < g.kernel[0]; ++kz)
              for (std::int64_t ky = 0; ky < g.kernel[1]; ++ky)
                for (std::int64_t kx = 0; kx < g.kernel[2]; ++kx) {
                  std::int64_t iz = oz * g.stride[0] - g.padBegin[0] + kz * g.dilation[0];
                  std::int64_t iy = oy * g.stride[1] - g.padBegin[1] + ky * g.dilation[1];
                  std::int64_t ix = ox * g.stride[2] - g.padBegin[2] + kx * g.dilation[2];
                  bool inPadded = iz < g.in[0] + g.padEnd[0] && iy < g.in[1] + g.padEnd[1] && ix < g.in[2] + g.padEnd[2];
                  if (inPadded) ++padCount;
                  if (iz < 0 || iz >= g.in[0] || iy < 0 || iy >= g.in[1] || ix < 0 || ix >= g.in[2]) continue;
                  std::int64_t at = (iz * g.in[1] + iy) * g.in[2] + ix;
                  double v = X[p * planeIn + at];
                  ++count;
                  acc += v;
                  if (v > best || bestAt < 0) best = v, bestAt = at;
                }
            std::int64_t o = p * planeOut + (oz * g.out[1] + oy) * g.out[2] + ox;
            if (kind == PoolKind::Max) {
              Y[o] = static_cast<T>(best);
              A[o] = static_cast<std::int32_t>(bestAt);
            } else {
              Y[o] = static_cast<T>(acc / static_cast<double>(includePad ? padCount : count));
            }
          }
  });
}

void poolBackward(PoolKind kind, bool includePad, const Tensor& dy, const Tensor& argmax, const Tensor& dx,
                  double beta, const ConvGeometry& g) {
  dispatchFloat(dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* DY = dy.data<T>();
    T* DX = dx.data<T>();
    std::vector<double> acc(static_cast<std::size_t>(dx.numel()), 0.0);
    std::int64_t planeIn = g.inSpatial(), planeOut = g.outSpatial();
    for (std::int64_t p = 0; p < g.batch * g.inChannels; ++p)
      for (std::int64_t o = 0; o < planeOut; ++o) {
        double d = DY[p * planeOut + o];
        if (kind == PoolKind::Max) {
          std::int32_t at = argmax.data<std::int32_t>()[p * planeOut + o];
          if (at >= 0) acc[p * planeIn + at] += d;
          continue;
        }
        std::int64_t oz = o / (g.out[1] * g.out[2]), oy = o / g.out[2] % g.out[1], ox = o % g.out[2];
        std::vector<std::int64_t> taps;
        std::int64_t padCount = 0;
        for (std::int64_t kz = 0; kz < g.kernel[0]; ++kz)
          for (std::int64_t ky = 0; ky < g.kernel[1]; ++ky)
            for (std::int64_t kx = 0; kx < g.kernel[2]; ++kx) {
              std::int64_t iz = oz * g.stride[0] - g.padBegin[0] + kz * g.dilation[0];
              std::int64_t iy = oy * g.stride[1] - g.padBegin[1] + ky * g.dilation[1];
              std::int64_t ix = ox * g.stride[2] - g.padBegin[2] + kx * g.dilation[2];
              if (iz < g.in[0] + g.padEnd[0] && iy < g.in[1] + g.padEnd[1] && ix < g.in[2] + g.padEnd[2]) ++padCount;
              if (iz < 0 || iz >= g.in[0] || iy < 0 || iy >= g.in[1] || ix < 0 || ix >= g.in[2]) continue;
              taps.push_back((iz * g.in[1] + iy) * g.in[2] + ix);
            }
        double share = d / static_cast<double>(includePad ? padCount : static_cast<std::int64_t>(taps.size()));
        for (auto at : taps) acc[p * planeIn + at] += share;
      }
    for (std::int64_t i = 0; i < dx.numel(); ++i)
      DX[i] = static_cast<T>(acc[i] + (beta == 0.0 ? 0.0 : beta * DX[i]));
  });
}

void lossForwardBackward(LossKind kind, const Tensor& pred, const Tensor& target, const Tensor& weight,
                         double gradScale, const Tensor& loss, const Tensor& grad) {
  dispatchFloat(pred.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* P = pred.data<T>();
    const T* Tg = target.data<T>();
    const T* W = weight.defined() ? weight.data<T>() : nullptr;
    T* L = loss.data<T>();
    T* G = grad.defined() ? grad.data<T>() : nullptr;
    std::int64_t N = pred.dim(0), inner = pred.numel() / std::max<std::int64_t>(N, 1);
    for (std::int64_t n = 0; n < N; ++n) {
      double w = (W ? W[n] : 1.0) * gradScale;
      const T* p = P + n * inner;
      T* g = G ? G + n * inner : nullptr;
      double l = 0;
      if (kind == LossKind::SoftmaxCrossEntropy) {
        auto cls = static_cast<std::int64_t>(Tg[n]);
        double mx = -INFINITY, total = 0;
        for (std::int64_t c = 0; c < inner; ++c) mx = std::max(mx, static_cast<double>(p[c]));
        for (std::int64_t c = 0; c < inner; ++c) total += std::exp(p[c] - mx);
        l = std::log(total) + mx - p[cls];
        if (g)
          for (std::int64_t c = 0; c < inner; ++c)
            g[c] = static_cast<T>(w * (std::exp(p[c] - mx) / total - (c == cls ? 1.0 : 0.0)));
      } else {
        const T* t = Tg + n * inner;
        for (std::int64_t i = 0; i < inner; ++i) {
          double x = p[i], y = t[i], li = 0, gi = 0;
          switch (kind) {
            case LossKind::BinaryCrossEntropyLogits:
              li = std::max(x, 0.0) - x * y + std::log1p(std::exp(-std::abs(x)));
              gi = 1.0 / (1.0 + std::exp(-x)) - y;
              break;
            case LossKind::MeanSquaredError:
              li = (x - y) * (x - y);
              gi = 2 * (x - y);
              break;
            case LossKind::MeanAbsoluteError:
              li = std::abs(x - y);
              gi = (x > y) - (x < y);
              break;
            case LossKind::MeanAbsolutePercentageError: {
              double denom = std::max(std::abs(y), 1e-7);
              li = 100.0 * std::abs(x - y) / denom;
              gi = 100.0 * ((x > y) - (x < y)) / denom;
              break;
            }
            case LossKind::SoftmaxCrossEntropy: break;
          }
          l += li / static_cast<double>(inner);
          if (g) g[i] = static_cast<T>(w * gi / static_cast<double>(inner));
        }
      }
      L[n] = static_cast<T>(l);
    }
  });
}

}  // namespace kaon::ops::reference
