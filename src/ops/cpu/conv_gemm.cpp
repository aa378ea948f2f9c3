// Implicit-im2col convolutions on the AVX2 sgemm; see conv_gemm.hpp for the formulation.
#include "conv_gemm.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "conv_direct.hpp"
#include "kaon/core/runtime.hpp"
#include "sgemm.hpp"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace kaon::ops::cpu {
namespace {

constexpr std::int64_t NR = kSgemmNR;

// One sample's geometry, flattened for the packers.
struct Geo {
  std::int64_t C, D, H, W, OD, OH, OW, KD, KH, KW, KV, CK, P, inSp, OC;
  std::int64_t s[3], d[3], pb[3], pe[3];
  std::int64_t Dp, Hp, Wp;  // the input with its padding (padded fast path)
  explicit Geo(const ConvGeometry& g)
      : C(g.inChannels), D(g.in[0]), H(g.in[1]), W(g.in[2]), OD(g.out[0]), OH(g.out[1]), OW(g.out[2]),
        KD(g.kernel[0]), KH(g.kernel[1]), KW(g.kernel[2]), KV(g.kernelVolume()), CK(g.inChannels * KV),
        P(g.outSpatial()), inSp(g.inSpatial()), OC(g.outChannels) {
    for (int a = 0; a < 3; ++a)
      s[a] = g.stride[a], d[a] = g.dilation[a], pb[a] = g.padBegin[a], pe[a] = g.padEnd[a];
    Dp = D + pb[0] + pe[0], Hp = H + pb[1] + pe[1], Wp = W + pb[2] + pe[2];
  }
  // Stride 1, non-negative padding and output rows of whole `multiple`-wide runs: packing can
  // read the padded input copy with plain vector loads, no bounds checks.
  bool paddedRuns(std::int64_t multiple) const {
    for (int a = 0; a < 3; ++a)
      if (s[a] != 1 || pb[a] < 0 || pe[a] < 0) return false;
    return OW % multiple == 0 && OD == Dp - d[0] * (KD - 1) && OH == Hp - d[1] * (KH - 1) &&
           OW == Wp - d[2] * (KW - 1);
  }
  // Offsets into the padded input: of tap row ck, and of output pixel p (stride 1).
  std::int64_t tapOffset(std::int64_t ck) const {
    const std::int64_t c = ck / KV, r = ck % KV;
    const std::int64_t kz = r / (KH * KW), ky = r / KW % KH, kx = r % KW;
    return ((c * Dp + kz * d[0]) * Hp + ky * d[1]) * Wp + kx * d[2];
  }
  std::int64_t pixelOffset(std::int64_t p) const {
    const std::int64_t ox = p % OW, row = p / OW;
    return ((row / OH) * Hp + row % OH) * Wp + ox;
  }
  bool pointwise() const {
    return KV == 1 && s[0] == 1 && s[1] == 1 && s[2] == 1 && pb[0] == 0 && pb[1] == 0 && pb[2] == 0 && OD == D &&
           OH == H && OW == W;
  }
};

// Where row ck of col(x) reads: channel offset and the kernel tap's input offsets.
struct RowInfo {
  std::int64_t base, dz, dy, dx;
};
inline RowInfo rowInfo(const Geo& q, std::int64_t ck) {
  const std::int64_t c = ck / q.KV, r = ck % q.KV;
  const std::int64_t kz = r / (q.KH * q.KW), ky = r / q.KW % q.KH, kx = r % q.KW;
  return {c * q.inSp, kz * q.d[0] - q.pb[0], ky * q.d[1] - q.pb[1], kx * q.d[2] - q.pb[2]};
}

// A run of consecutive output positions on one output row; `begin` is relative to the range.
struct Segment {
  std::int64_t begin, len, oz, oy, ox;
};
// Splits output positions [p0, p0 + n) into row runs, appending to `out`.
void rowSegments(const Geo& q, std::int64_t p0, std::int64_t n, std::vector<Segment>& out) {
  out.clear();
  for (std::int64_t p = p0, end = p0 + n; p < end;) {
    const std::int64_t ox = p % q.OW, row = p / q.OW, len = std::min(q.OW - ox, end - p);
    out.push_back({p - p0, len, row / q.OH, row % q.OH, ox});
    p += len;
  }
}

// dst[t * step] for t in [0, len) = col values of tap `r` along the run `sg` (zero in padding).
inline void gatherRun(const float* xc, const Geo& q, const RowInfo& r, const Segment& sg, float* dst,
                      std::int64_t step) {
  const std::int64_t iz = sg.oz * q.s[0] + r.dz, iy = sg.oy * q.s[1] + r.dy;
  if (iz < 0 || iz >= q.D || iy < 0 || iy >= q.H) {
    for (std::int64_t t = 0; t < sg.len; ++t) dst[t * step] = 0.f;
    return;
  }
  const float* row = xc + (iz * q.H + iy) * q.W;
  if (q.s[2] == 1) {
    const std::int64_t ix0 = sg.ox + r.dx;
    const std::int64_t lo = std::clamp<std::int64_t>(-ix0, 0, sg.len), hi = std::clamp<std::int64_t>(q.W - ix0, lo, sg.len);
    if (step == 1) {
      std::fill(dst, dst + lo, 0.f);
      std::memcpy(dst + lo, row + ix0 + lo, sizeof(float) * (hi - lo));
      std::fill(dst + hi, dst + sg.len, 0.f);
    } else {
      for (std::int64_t t = 0; t < lo; ++t) dst[t * step] = 0.f;
      for (std::int64_t t = lo; t < hi; ++t) dst[t * step] = row[ix0 + t];
      for (std::int64_t t = hi; t < sg.len; ++t) dst[t * step] = 0.f;
    }
  } else {
    for (std::int64_t t = 0; t < sg.len; ++t) {
      const std::int64_t ix = (sg.ox + t) * q.s[2] + r.dx;
      dst[t * step] = ix >= 0 && ix < q.W ? row[ix] : 0.f;
    }
  }
}

// B = col(x) [CK, P]: rows ck in [k0, k0+kc), columns p in [j0, j0+nc), NR-wide panels.
void packCol(const float* x, const Geo& q, std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc,
             float* dst) {
  thread_local std::vector<RowInfo> rows;
  thread_local std::vector<Segment> segs;
  rows.resize(static_cast<std::size_t>(kc));
  for (std::int64_t k = 0; k < kc; ++k) rows[k] = rowInfo(q, k0 + k);
  for (std::int64_t jp = 0; jp < nc; jp += NR, dst += kc * NR) {
    const std::int64_t nr = std::min(NR, nc - jp);
    rowSegments(q, j0 + jp, nr, segs);
    const bool oneRun = segs.size() == 1 && nr == NR && q.s[2] == 1;
    for (std::int64_t k = 0; k < kc; ++k) {
      float* out = dst + k * NR;
      const RowInfo& r = rows[k];
      const float* xc = x + r.base;
#if defined(__AVX2__)
      if (oneRun) {  // 16 outputs on one row: two (masked) vector loads
        const Segment& sg = segs[0];
        const std::int64_t iz = sg.oz * q.s[0] + r.dz, iy = sg.oy * q.s[1] + r.dy, ix0 = sg.ox + r.dx;
        if (iz < 0 || iz >= q.D || iy < 0 || iy >= q.H) {
          _mm256_store_ps(out, _mm256_setzero_ps());
          _mm256_store_ps(out + 8, _mm256_setzero_ps());
          continue;
        }
        const float* row = xc + (iz * q.H + iy) * q.W;
        if (ix0 >= 0 && ix0 + NR <= q.W) {
          _mm256_store_ps(out, _mm256_loadu_ps(row + ix0));
          _mm256_store_ps(out + 8, _mm256_loadu_ps(row + ix0 + 8));
          continue;
        }
        // Lanes t with 0 <= ix0 + t < W load, the others read as zero (masked lanes never touch memory).
        const int lo = static_cast<int>(std::clamp<std::int64_t>(-ix0, 0, NR));
        const int hi = static_cast<int>(std::clamp<std::int64_t>(q.W - ix0, lo, NR));
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), eight = _mm256_set1_epi32(8);
        const __m256i vlo = _mm256_set1_epi32(lo - 1), vhi = _mm256_set1_epi32(hi);
        const __m256i m0 = _mm256_and_si256(_mm256_cmpgt_epi32(lane, vlo), _mm256_cmpgt_epi32(vhi, lane));
        const __m256i lane8 = _mm256_add_epi32(lane, eight);
        const __m256i m1 = _mm256_and_si256(_mm256_cmpgt_epi32(lane8, vlo), _mm256_cmpgt_epi32(vhi, lane8));
        const float* src = row + ix0;  // may point before the row; only unmasked lanes are read
        _mm256_store_ps(out, _mm256_maskload_ps(src, m0));
        _mm256_store_ps(out + 8, _mm256_maskload_ps(src + 8, m1));
        continue;
      }
#endif
      for (const Segment& sg : segs) gatherRun(xc, q, r, sg, out + sg.begin, 1);
      for (std::int64_t j = nr; j < NR; ++j) out[j] = 0.f;
    }
  }
}

// B = col(x)^T [P, CK]: rows p in [k0, k0+kc), columns ck in [j0, j0+nc), NR-wide panels.
void packColT(const float* x, const Geo& q, std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc,
              float* dst) {
  thread_local std::vector<Segment> segs;
  rowSegments(q, k0, kc, segs);
  for (std::int64_t jp = 0; jp < nc; jp += NR, dst += kc * NR) {
    const std::int64_t nr = std::min(NR, nc - jp);
    for (std::int64_t j = 0; j < NR; ++j) {
      if (j >= nr) {
        for (std::int64_t k = 0; k < kc; ++k) dst[k * NR + j] = 0.f;
        continue;
      }
      const RowInfo r = rowInfo(q, j0 + jp + j);
      for (const Segment& sg : segs) gatherRun(x + r.base, q, r, sg, dst + sg.begin * NR + j, NR);
    }
  }
}

// xp [C, Dp, Hp, Wp] = x [C, D, H, W] with zeros in the padding.
void padInput(const float* x, const Geo& q, float* xp) {
  for (std::int64_t c = 0; c < q.C; ++c)
    for (std::int64_t zp = 0; zp < q.Dp; ++zp)
      for (std::int64_t yp = 0; yp < q.Hp; ++yp) {
        float* out = xp + ((c * q.Dp + zp) * q.Hp + yp) * q.Wp;
        const std::int64_t iz = zp - q.pb[0], iy = yp - q.pb[1];
        if (iz < 0 || iz >= q.D || iy < 0 || iy >= q.H) {
          std::fill(out, out + q.Wp, 0.f);
          continue;
        }
        std::fill(out, out + q.pb[2], 0.f);
        std::memcpy(out + q.pb[2], x + ((c * q.D + iz) * q.H + iy) * q.W, sizeof(float) * q.W);
        std::fill(out + q.pb[2] + q.W, out + q.Wp, 0.f);
      }
}

float* paddedScratch(const Geo& q) {
  thread_local std::vector<float> buf;
  buf.resize(static_cast<std::size_t>(q.C * q.Dp * q.Hp * q.Wp));
  return buf.data();
}

#if defined(__AVX2__)
// packCol from the padded input when q.paddedRuns(NR): every 16-pixel panel lies on one row.
void packColPadded(const float* xp, const Geo& q, std::int64_t k0, std::int64_t kc, std::int64_t j0,
                   std::int64_t nc, float* dst) {
  thread_local std::vector<std::int64_t> offs;
  offs.resize(static_cast<std::size_t>(kc));
  for (std::int64_t k = 0; k < kc; ++k) offs[k] = q.tapOffset(k0 + k);
  for (std::int64_t jp = 0; jp < nc; jp += NR, dst += kc * NR) {
    const std::int64_t nr = std::min(NR, nc - jp);
    const float* base = xp + q.pixelOffset(j0 + jp);
    if (nr == NR) {
      for (std::int64_t k = 0; k < kc; ++k) {
        const float* src = base + offs[k];
        _mm256_store_ps(dst + k * NR, _mm256_loadu_ps(src));
        _mm256_store_ps(dst + k * NR + 8, _mm256_loadu_ps(src + 8));
      }
    } else {  // a ragged last panel: the nr pixels are still on one row
      for (std::int64_t k = 0; k < kc; ++k)
        for (std::int64_t j = 0; j < NR; ++j) dst[k * NR + j] = j < nr ? base[offs[k] + j] : 0.f;
    }
  }
}

// Rows r[0..7] -> columns: r[i][m] ends up in r[m][i].
inline void transpose8x8(__m256 r[8]) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20), r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20), r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31), r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31), r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// packColT from the padded input when q.paddedRuns(8) and k0, kc are multiples of 8: 8 taps x
// 8 pixels (one row run) are loaded as rows and stored transposed.
void packColTPadded(const float* xp, const Geo& q, std::int64_t k0, std::int64_t kc, std::int64_t j0,
                    std::int64_t nc, float* dst) {
  for (std::int64_t jp = 0; jp < nc; jp += NR, dst += kc * NR)
    for (std::int64_t h = 0; h < 2; ++h) {
      std::int64_t offs[8];
      bool valid[8];
      for (int i = 0; i < 8; ++i) {
        const std::int64_t j = jp + h * 8 + i;
        valid[i] = j < nc;
        offs[i] = valid[i] ? q.tapOffset(j0 + j) : 0;
      }
      for (std::int64_t k = 0; k < kc; k += 8) {
        const float* base = xp + q.pixelOffset(k0 + k);
        __m256 r[8];
        for (int i = 0; i < 8; ++i) r[i] = valid[i] ? _mm256_loadu_ps(base + offs[i]) : _mm256_setzero_ps();
        transpose8x8(r);
        for (int m = 0; m < 8; ++m) _mm256_store_ps(dst + (k + m) * NR + h * 8, r[m]);
      }
    }
}
#endif

// Parallel over samples when that balances, otherwise over the GEMM of each sample.
bool splitSamples(std::int64_t batch, int threads) {
  return threads > 1 && (batch % threads == 0 || batch >= 4 * threads);
}

// y_n [OC, P] = act(beta * y_n + W [OC, CK] * col(x_n) + bias), for every sample (epilogue
// null: no bias, identity). W is packed once here and shared by every sample's GEMM.
void implicitConv(const float* x, const float* w, float* y, float beta, const ConvGeometry& g,
                  const GemmEpilogue* epi) {
  const Geo q(g);
  const int threads = numThreads();
  thread_local PackedA packedW;  // reused capacity; read by all threads of the loop below
  packedW.pack(q.OC, q.CK, StridedMatrix{w, q.CK, 1});
  const PackedA& A = packedW;
  auto sample = [&](std::int64_t n, int gemmThreads) {
    const float* xn = x + n * q.C * q.inSp;
    float* yn = y + n * q.OC * q.P;
    if (q.pointwise()) {
      sgemm(q.OC, q.P, q.C, 1.f, A, StridedMatrix{xn, q.P, 1}, beta, yn, q.P, gemmThreads, epi);
      return;
    }
#if defined(__AVX2__)
    if (q.paddedRuns(NR)) {
      float* xp = paddedScratch(q);
      padInput(xn, q, xp);
      BPanelPacker pack = [&](std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc, float* dst) {
        packColPadded(xp, q, k0, kc, j0, nc, dst);
      };
      sgemmPackedB(q.OC, q.P, q.CK, 1.f, A, pack, beta, yn, q.P, gemmThreads, epi);
      return;
    }
#endif
    BPanelPacker pack = [&](std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc, float* dst) {
      packCol(xn, q, k0, kc, j0, nc, dst);
    };
    sgemmPackedB(q.OC, q.P, q.CK, 1.f, A, pack, beta, yn, q.P, gemmThreads, epi);
  };
  if (splitSamples(g.batch, threads)) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (std::int64_t n = 0; n < g.batch; ++n) sample(n, 1);
  } else {
    for (std::int64_t n = 0; n < g.batch; ++n) sample(n, threads);
  }
}

// y [N, OC, P] = act(y + bias[oc]) in one pass (the direct kernel has no GEMM store to fuse into).
void biasActivationInPlace(float* y, const ConvGeometry& g, const GemmEpilogue& e) {
  const std::int64_t planes = g.batch * g.outChannels, P = g.outSpatial();
#pragma omp parallel for schedule(static) num_threads(numThreads()) if (planes * P > 32768)
  for (std::int64_t np = 0; np < planes; ++np) {
    float* row = y + np * P;
    const float b = e.rowBias ? e.rowBias[np % g.outChannels] : 0.f;
    if (e.act == Activation::Relu) {
#pragma omp simd
      for (std::int64_t i = 0; i < P; ++i) row[i] = std::max(row[i] + b, 0.f);
    } else {
      if (e.rowBias) {
#pragma omp simd
        for (std::int64_t i = 0; i < P; ++i) row[i] += b;
      }
      applyActivationTile(row, P, 1, P, e.act, e.alpha);
    }
  }
}

}  // namespace

bool convForwardF32(const Tensor& x, const Tensor& w, const Tensor& y, const ConvGeometry& g,
                    const GemmEpilogue* epilogue) {
  if (!sgemmAvailable()) return false;
  if (directConvApplies(g)) {
    directConvForward(x.data<float>(), w.data<float>(), y.data<float>(), 0.f, g);
    if (epilogue) biasActivationInPlace(y.data<float>(), g, *epilogue);
    return true;
  }
  if (blockedDirectConvApplies(g)) {
    blockedDirectConvForward(x.data<float>(), w.data<float>(), y.data<float>(), 0.f, g);
    if (epilogue) biasActivationInPlace(y.data<float>(), g, *epilogue);
    return true;
  }
  implicitConv(x.data<float>(), w.data<float>(), y.data<float>(), 0.f, g, epilogue);
  return true;
}

bool convBackwardDataF32(const Tensor& dy, const Tensor& w, const Tensor& dx, double beta, const ConvGeometry& g) {
  if (!sgemmAvailable() || g.stride[0] != 1 || g.stride[1] != 1 || g.stride[2] != 1) return false;
  // Few input channels (a first layer) but many output channels: the flipped conv would be a
  // GEMM of <= 4 rows; W^T * dY (K = OC) + col2im in cpu_conv.cpp is faster (measured: jet
  // conv1 66 vs 39 GFLOP/s with the direct kernel).
  if (g.inChannels <= 4 && g.outChannels >= 16) return false;
  // dX = conv(dY, W') with W' [C, OC, K] = W [OC, C, K] with channels swapped and every
  // kernel axis reversed, stride 1, and padding dilation*(k-1) - pad on each side.
  const std::int64_t C = g.inChannels, OC = g.outChannels, KV = g.kernelVolume();
  std::vector<float>& wt = [&]() -> std::vector<float>& {
    thread_local std::vector<float> buf;
    buf.resize(static_cast<std::size_t>(C * OC * KV));
    return buf;
  }();
  const float* W = w.data<float>();
  for (std::int64_t oc = 0; oc < OC; ++oc)
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t r = 0; r < KV; ++r) wt[(c * OC + oc) * KV + (KV - 1 - r)] = W[(oc * C + c) * KV + r];
  ConvGeometry t = g;
  t.inChannels = OC, t.outChannels = C, t.in = g.out, t.out = g.in;
  for (int a = 0; a < 3; ++a) {
    const int span = g.dilation[a] * static_cast<int>(g.kernel[a] - 1);
    t.padBegin[a] = span - g.padBegin[a];
    t.padEnd[a] = span - g.padEnd[a];
  }
  if (directConvApplies(t))  // few input channels (a first layer): few rows for a GEMM
    directConvForward(dy.data<float>(), wt.data(), dx.data<float>(), static_cast<float>(beta), t);
  else if (blockedDirectConvApplies(t))
    blockedDirectConvForward(dy.data<float>(), wt.data(), dx.data<float>(), static_cast<float>(beta), t);
  else
    implicitConv(dy.data<float>(), wt.data(), dx.data<float>(), static_cast<float>(beta), t, nullptr);
  return true;
}

bool convBackwardFilterF32(const Tensor& x, const Tensor& dy, const Tensor& dw, double beta, const ConvGeometry& g) {
  if (!sgemmAvailable()) return false;
  if (directConvApplies(g)) {
    directConvBackwardFilter(x.data<float>(), dy.data<float>(), dw.data<float>(), static_cast<float>(beta), g);
    return true;
  }
  const Geo q(g);
  const int threads = numThreads();
  const std::int64_t wsize = q.OC * q.CK;
  const bool padded = q.paddedRuns(8);
  const float* X = x.data<float>();
  const float* DY = dy.data<float>();
  // dW_part (+)= sum over samples [n0, n1) of dY_n * col(x_n)^T; `first` beta for the first.
  auto chunk = [&](std::int64_t n0, std::int64_t n1, float* out, float first, int gemmThreads) {
    if (n0 == n1) {
      for (std::int64_t i = 0; i < wsize; ++i) out[i] = first == 0.f ? 0.f : first * out[i];
      return;
    }
    for (std::int64_t n = n0; n < n1; ++n) {
      const float* xn = X + n * q.C * q.inSp;
      const StridedMatrix A{DY + n * q.OC * q.P, q.P, 1};
      const float b = n == n0 ? first : 1.f;
      if (q.pointwise()) {
        sgemm(q.OC, q.CK, q.P, 1.f, A, StridedMatrix{xn, 1, q.P}, b, out, q.CK, gemmThreads);
        continue;
      }
#if defined(__AVX2__)
      if (padded) {
        float* xp = paddedScratch(q);
        padInput(xn, q, xp);
        BPanelPacker pack = [&](std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc, float* dst) {
          if (k0 % 8 == 0 && kc % 8 == 0) packColTPadded(xp, q, k0, kc, j0, nc, dst);
          else packColT(xn, q, k0, kc, j0, nc, dst);
        };
        sgemmPackedB(q.OC, q.CK, q.P, 1.f, A, pack, b, out, q.CK, gemmThreads);
        continue;
      }
#endif
      BPanelPacker pack = [&](std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc, float* dst) {
        packColT(xn, q, k0, kc, j0, nc, dst);
      };
      sgemmPackedB(q.OC, q.CK, q.P, 1.f, A, pack, b, out, q.CK, gemmThreads);
    }
  };
  // Samples in G = min(batch, 8) fixed contiguous groups, each summed into its own scratch
  // slice; the groups are handed to threads dynamically (a thread slowed down by other load
  // is covered by the others), then dW = beta * dW + the group sums in group order. The
  // result depends neither on the thread count nor on the schedule.
  float* DW = dw.data<float>();
  const std::int64_t groups = std::min<std::int64_t>(g.batch, 8);
  if (groups <= 1) {
    chunk(0, g.batch, DW, static_cast<float>(beta), threads);
    return true;
  }
  thread_local std::vector<float> partial;
  partial.resize(static_cast<std::size_t>(wsize * groups));
  float* P = partial.data();
  if (threads > 1 && groups >= threads) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (std::int64_t gi = 0; gi < groups; ++gi)
      chunk(g.batch * gi / groups, g.batch * (gi + 1) / groups, P + gi * wsize, 0.f, 1);
  } else {
    for (std::int64_t gi = 0; gi < groups; ++gi)
      chunk(g.batch * gi / groups, g.batch * (gi + 1) / groups, P + gi * wsize, 0.f, threads);
  }
  const float b = static_cast<float>(beta);
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && wsize * groups > 65536)
  for (std::int64_t i = 0; i < wsize; ++i) {
    float acc = b == 0.f ? 0.f : b * DW[i];
    for (std::int64_t gi = 0; gi < groups; ++gi) acc += P[gi * wsize + i];
    DW[i] = acc;
  }
  return true;
}

}  // namespace kaon::ops::cpu
