// Direct float32 convolution for layers with very few output channels (the last SRCNN layer:
// 32 -> 1), where a GEMM of M = OC rows wastes most of its 6-row micro-kernel and re-packs the
// whole implicit column matrix for one use. Stride 1 and dilation 1 on every axis.
//
// The input rows are first copied with their x-padding ([.., W] -> [.., Wp = W + padBegin +
// padEnd]), so a row of outputs is an unbounded sliding window along x:
//   forward          y[oc, oz, oy, ox]    += sum_kx w[oc, c, kz, ky, kx] * xp[c, iz, iy, ox + kx]
//   backward filter  dw[oc, c, kz, ky, kx] = sum_{n, oz, oy, ox} dy[n, oc, oz, oy, ox] * xp[n, c, iz, iy, ox + kx]
// with iz = oz + kz - padBegin_z, iy = oy + ky - padBegin_y (rows outside the input skipped).
// Forward is parallel over samples; backward filter over (oc, c) pairs summing samples in
// order, so it is deterministic and needs no partial buffers.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "conv_direct.hpp"
#include "kaon/core/error.hpp"
#include "kaon/core/runtime.hpp"
#include "simd/conv_direct_avx512.hpp"
#include "simd/sgemm_avx512.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define KAON_DIRECT_AVX2 1
#endif

namespace kaon::ops::cpu {
namespace {

// row x [W] -> out [Wp] with px zeros before and the rest after.
void padRowsInto(const float* x, std::int64_t W, std::int64_t px, std::int64_t Wp, float* out) {
  std::fill(out, out + px, 0.f);
  std::memcpy(out + px, x, sizeof(float) * W);
  std::fill(out + px + W, out + Wp, 0.f);
}

}  // namespace

#if KAON_DIRECT_AVX2

namespace {

constexpr std::int64_t kMaxOc = 4, kMaxKw = 16;

struct Dims {
  std::int64_t C, D, H, W, OC, OD, OH, OW, KD, KH, KW, pz, py, px, Wp, P, inSp;
  explicit Dims(const ConvGeometry& g)
      : C(g.inChannels), D(g.in[0]), H(g.in[1]), W(g.in[2]), OC(g.outChannels), OD(g.out[0]), OH(g.out[1]),
        OW(g.out[2]), KD(g.kernel[0]), KH(g.kernel[1]), KW(g.kernel[2]), pz(g.padBegin[0]), py(g.padBegin[1]),
        px(g.padBegin[2]), Wp(g.out[2] + g.kernel[2] - 1), P(g.outSpatial()), inSp(g.inSpatial()) {}
};

// rows x [rows, W] -> out [rows, Wp] with px zeros before and the rest after.
void padRows(const float* x, std::int64_t rows, std::int64_t W, std::int64_t px, std::int64_t Wp, float* out) {
  for (std::int64_t r = 0; r < rows; ++r, x += W, out += Wp) padRowsInto(x, W, px, Wp, out);
}

// out[ox] += sum_kx w[kx] * row[ox + kx] for ox in [0, n).
template <int KW>
void rowAxpy(const float* row, const float* w, float* out, std::int64_t n, int kwRuntime) {
  const int kw = KW > 0 ? KW : kwRuntime;
  __m256 wv[kMaxKw];
  for (int k = 0; k < kw; ++k) wv[k] = _mm256_set1_ps(w[k]);
  std::int64_t ox = 0;
  for (; ox + 8 <= n; ox += 8) {
    __m256 acc = _mm256_loadu_ps(out + ox);
    for (int k = 0; k < kw; ++k) acc = _mm256_fmadd_ps(wv[k], _mm256_loadu_ps(row + ox + k), acc);
    _mm256_storeu_ps(out + ox, acc);
  }
  for (; ox < n; ++ox) {
    float acc = out[ox];
    for (int k = 0; k < kw; ++k) acc += w[k] * row[ox + k];
    out[ox] = acc;
  }
}

// sums[kx] += sum_ox d[ox] * row[ox + kx] for ox in [0, n).
template <int KW>
void rowCorrelate(const float* d, const float* row, std::int64_t n, double* sums, int kwRuntime) {
  const int kw = KW > 0 ? KW : kwRuntime;
  __m256 acc[kMaxKw];
  for (int k = 0; k < kw; ++k) acc[k] = _mm256_setzero_ps();
  std::int64_t ox = 0;
  for (; ox + 8 <= n; ox += 8) {
    const __m256 dv = _mm256_loadu_ps(d + ox);
    for (int k = 0; k < kw; ++k) acc[k] = _mm256_fmadd_ps(dv, _mm256_loadu_ps(row + ox + k), acc[k]);
  }
  for (int k = 0; k < kw; ++k) {
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, acc[k]);
    float s = 0.f;
    for (float v : lanes) s += v;
    for (std::int64_t t = ox; t < n; ++t) s += d[t] * row[t + k];
    sums[k] += s;
  }
}

using AxpyFn = void (*)(const float*, const float*, float*, std::int64_t, int);
using CorrFn = void (*)(const float*, const float*, std::int64_t, double*, int);

AxpyFn axpyFor(std::int64_t kw) {
  switch (kw) {
    case 1: return rowAxpy<1>;
    case 2: return rowAxpy<2>;
    case 3: return rowAxpy<3>;
    case 4: return rowAxpy<4>;
    case 5: return rowAxpy<5>;
    case 7: return rowAxpy<7>;
    case 9: return rowAxpy<9>;
    default: return rowAxpy<0>;
  }
}
CorrFn corrFor(std::int64_t kw) {
  switch (kw) {
    case 1: return rowCorrelate<1>;
    case 2: return rowCorrelate<2>;
    case 3: return rowCorrelate<3>;
    case 4: return rowCorrelate<4>;
    case 5: return rowCorrelate<5>;
    case 7: return rowCorrelate<7>;
    case 9: return rowCorrelate<9>;
    default: return rowCorrelate<0>;
  }
}

}  // namespace

bool directConvApplies(const ConvGeometry& g) {
  for (int a = 0; a < 3; ++a)
    if (g.stride[a] != 1 || g.dilation[a] != 1) return false;
  return g.outChannels <= kMaxOc && g.kernel[2] <= kMaxKw;
}

void directConvForward(const float* x, const float* w, float* y, float beta, const ConvGeometry& g) {
  const Dims q(g);
  const AxpyFn axpy = axpyFor(q.KW);
  const int threads = numThreads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1 && g.batch > 1)
  for (std::int64_t n = 0; n < g.batch; ++n) {
    thread_local std::vector<float> xpad;
    xpad.resize(static_cast<std::size_t>(q.C * q.D * q.H * q.Wp));
    padRows(x + n * q.C * q.inSp, q.C * q.D * q.H, q.W, q.px, q.Wp, xpad.data());
    for (std::int64_t oc = 0; oc < q.OC; ++oc) {
      float* yo = y + (n * q.OC + oc) * q.P;
      if (beta == 0.f) std::fill(yo, yo + q.P, 0.f);
      else if (beta != 1.f) for (std::int64_t i = 0; i < q.P; ++i) yo[i] *= beta;
      for (std::int64_t c = 0; c < q.C; ++c)
        for (std::int64_t kz = 0; kz < q.KD; ++kz)
          for (std::int64_t ky = 0; ky < q.KH; ++ky) {
            const float* wk = w + (((oc * q.C + c) * q.KD + kz) * q.KH + ky) * q.KW;
            for (std::int64_t oz = 0; oz < q.OD; ++oz) {
              const std::int64_t iz = oz + kz - q.pz;
              if (iz < 0 || iz >= q.D) continue;
              for (std::int64_t oy = 0; oy < q.OH; ++oy) {
                const std::int64_t iy = oy + ky - q.py;
                if (iy < 0 || iy >= q.H) continue;
                axpy(xpad.data() + ((c * q.D + iz) * q.H + iy) * q.Wp, wk, yo + (oz * q.OH + oy) * q.OW, q.OW,
                     static_cast<int>(q.KW));
              }
            }
          }
    }
  }
}

void directConvBackwardFilter(const float* x, const float* dy, float* dw, float beta, const ConvGeometry& g) {
  const Dims q(g);
  const CorrFn corr = corrFor(q.KW);
  const int threads = numThreads();
  const std::int64_t sampleRows = q.C * q.D * q.H;
  thread_local std::vector<float> xpad;
  xpad.resize(static_cast<std::size_t>(g.batch * sampleRows * q.Wp));
  float* xp = xpad.data();
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
#pragma omp for schedule(static)
    for (std::int64_t n = 0; n < g.batch; ++n)
      padRows(x + n * q.C * q.inSp, sampleRows, q.W, q.px, q.Wp, xp + n * sampleRows * q.Wp);
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t pair = 0; pair < q.OC * q.C; ++pair) {
      const std::int64_t oc = pair / q.C, c = pair % q.C;
      for (std::int64_t kz = 0; kz < q.KD; ++kz)
        for (std::int64_t ky = 0; ky < q.KH; ++ky) {
          double sums[kMaxKw] = {};
          for (std::int64_t n = 0; n < g.batch; ++n) {
            const float* dyn = dy + (n * q.OC + oc) * q.P;
            const float* xc = xp + (n * sampleRows + c * q.D * q.H) * q.Wp;
            for (std::int64_t oz = 0; oz < q.OD; ++oz) {
              const std::int64_t iz = oz + kz - q.pz;
              if (iz < 0 || iz >= q.D) continue;
              for (std::int64_t oy = 0; oy < q.OH; ++oy) {
                const std::int64_t iy = oy + ky - q.py;
                if (iy < 0 || iy >= q.H) continue;
                corr(dyn + (oz * q.OH + oy) * q.OW, xc + (iz * q.H + iy) * q.Wp, q.OW, sums, static_cast<int>(q.KW));
              }
            }
          }
          float* out = dw + (((oc * q.C + c) * q.KD + kz) * q.KH + ky) * q.KW;
          for (std::int64_t kx = 0; kx < q.KW; ++kx)
            out[kx] = beta == 0.f ? static_cast<float>(sums[kx]) : static_cast<float>(sums[kx] + beta * out[kx]);
        }
    }
  }
}

#else

bool directConvApplies(const ConvGeometry&) { return false; }
void directConvForward(const float*, const float*, float*, float, const ConvGeometry&) {}
void directConvBackwardFilter(const float*, const float*, float*, float, const ConvGeometry&) {}

#endif

bool blockedDirectConvApplies(const ConvGeometry& g) {
  for (int a = 0; a < 3; ++a)
    if (g.stride[a] != 1 || g.dilation[a] != 1) return false;
  for (int a = 0; a < 3; ++a)  // a transposed geometry's padding can be negative: not handled here
    if (g.padBegin[a] < 0 || g.padEnd[a] < 0) return false;
  // Up to 4 register groups: measured on the 3DGAN (the 8 -> 32 data gradient of its second
  // discriminator conv) 1.23x faster per step than the GEMM path, and neutral on SRCNN's 64 -> 32
  // 3x3 layer (docs/perf-notes.md).
  return g.outChannels <= 4 * simd::kDirectGroup && simd::avx512Usable();
}

void blockedDirectConvForward(const float* x, const float* w, float* y, float beta, const ConvGeometry& g) {
  KAON_CHECK(blockedDirectConvApplies(g), "blocked direct convolution: unsupported geometry or no AVX-512");
  simd::DirectConvPlan q{g.batch, g.inChannels, g.in[0], g.in[1], g.outChannels, g.out[0], g.out[1], g.out[2],
                         g.kernel[0], g.kernel[1], g.kernel[2], g.padBegin[0], g.padBegin[1],
                         g.out[2] + g.kernel[2] - 1, 0};
  const std::int64_t W = g.in[2], px = g.padBegin[2], rows = g.batch * q.C * q.D * q.H;
  q.sampleFloats = q.C * q.D * q.H * q.Wp;
  const std::int64_t perChannel = q.C * q.KD * q.KH * q.KW;
  // Weights per group of output channels as [C, KD, KH, KW, B]: a tap's B weights adjacent.
  thread_local std::vector<float> wpacked, xpad;
  wpacked.resize(static_cast<std::size_t>(q.OC * perChannel));
  for (std::int64_t oc0 = 0; oc0 < q.OC; oc0 += simd::kDirectGroup) {
    const std::int64_t B = std::min(simd::kDirectGroup, q.OC - oc0);
    float* dst = wpacked.data() + oc0 * perChannel;
    for (std::int64_t o = 0; o < B; ++o)
      for (std::int64_t r = 0; r < perChannel; ++r) dst[r * B + o] = w[(oc0 + o) * perChannel + r];
  }
  // x-padded rows, plus two vectors of slack for the kernel's full-width loads at the end.
  xpad.resize(static_cast<std::size_t>(rows * q.Wp + 32));
  std::fill(xpad.end() - 32, xpad.end(), 0.f);
  float* xp = xpad.data();  // this thread's buffer: thread_locals must not be named inside the region
  const int threads = numThreads();
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
  for (std::int64_t r = 0; r < rows; ++r) padRowsInto(x + r * W, W, px, q.Wp, xp + r * q.Wp);
  simd::directConvForwardAvx512(xp, wpacked.data(), y, beta, q, threads);
}

}  // namespace kaon::ops::cpu
