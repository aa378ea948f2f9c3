// Compiled with -mavx512f (src/CMakeLists.txt); see conv_direct_avx512.hpp.
#include "conv_direct_avx512.hpp"

#include <omp.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace kaon::ops::cpu::simd {

#if defined(__AVX512F__)

namespace {

constexpr std::int64_t kVec = 16;

__mmask16 tailMask(std::int64_t n) {
  if (n <= 0) return 0;
  return n >= kVec ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1);
}

// Outputs [x0, x0 + 32) of row (oz, oy) for B channels; w: the group's [C, KD, KH, KW, B];
// yRow[o]: channel o's output row.
template <int B>
void rowBlock(const float* xs, const float* wg, float* const* yRow, std::int64_t x0, float beta,
              const DirectConvPlan& q, std::int64_t oz, std::int64_t oy) {
  __m512 acc0[B], acc1[B];
  const __mmask16 m0 = tailMask(q.OW - x0), m1 = tailMask(q.OW - x0 - kVec);
  const __m512 b = _mm512_set1_ps(beta);
  for (int o = 0; o < B; ++o) {
    acc0[o] = beta == 0.f ? _mm512_setzero_ps() : _mm512_mul_ps(b, _mm512_maskz_loadu_ps(m0, yRow[o] + x0));
    acc1[o] = beta == 0.f ? _mm512_setzero_ps() : _mm512_mul_ps(b, _mm512_maskz_loadu_ps(m1, yRow[o] + x0 + kVec));
  }
  const std::int64_t tapsPerChannel = q.KD * q.KH * q.KW;
  for (std::int64_t c = 0; c < q.C; ++c)
    for (std::int64_t kz = 0; kz < q.KD; ++kz) {
      const std::int64_t iz = oz + kz - q.pz;
      if (iz < 0 || iz >= q.D) continue;
      for (std::int64_t ky = 0; ky < q.KH; ++ky) {
        const std::int64_t iy = oy + ky - q.py;
        if (iy < 0 || iy >= q.H) continue;
        const float* row = xs + ((c * q.D + iz) * q.H + iy) * q.Wp + x0;
        const float* w = wg + (c * tapsPerChannel + (kz * q.KH + ky) * q.KW) * B;
        for (std::int64_t kx = 0; kx < q.KW; ++kx, w += B) {
          const __m512 v0 = _mm512_loadu_ps(row + kx), v1 = _mm512_loadu_ps(row + kx + kVec);
          for (int o = 0; o < B; ++o) {
            const __m512 wv = _mm512_set1_ps(w[o]);
            acc0[o] = _mm512_fmadd_ps(wv, v0, acc0[o]);
            acc1[o] = _mm512_fmadd_ps(wv, v1, acc1[o]);
          }
        }
      }
    }
  for (int o = 0; o < B; ++o) {
    _mm512_mask_storeu_ps(yRow[o] + x0, m0, acc0[o]);
    _mm512_mask_storeu_ps(yRow[o] + x0 + kVec, m1, acc1[o]);
  }
}

using RowFn = void (*)(const float*, const float*, float* const*, std::int64_t, float, const DirectConvPlan&,
                       std::int64_t, std::int64_t);
RowFn rowFor(std::int64_t b) {
  switch (b) {
    case 1: return rowBlock<1>;
    case 2: return rowBlock<2>;
    case 3: return rowBlock<3>;
    case 4: return rowBlock<4>;
    case 5: return rowBlock<5>;
    case 6: return rowBlock<6>;
    case 7: return rowBlock<7>;
    default: return rowBlock<8>;
  }
}

}  // namespace

void directConvForwardAvx512(const float* xpad, const float* wpacked, float* y, float beta, const DirectConvPlan& q,
                             int threads) {
  const std::int64_t groups = (q.OC + kDirectGroup - 1) / kDirectGroup, P = q.OD * q.OH * q.OW;
  const std::int64_t weightsPerChannel = q.C * q.KD * q.KH * q.KW;
  // One task: a sample, a channel group and an output plane (oz), every row and block in it.
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1)
  for (std::int64_t task = 0; task < q.batch * groups * q.OD; ++task) {
    const std::int64_t oz = task % q.OD, gi = task / q.OD % groups, n = task / (q.OD * groups);
    const std::int64_t oc0 = gi * kDirectGroup, B = q.OC - oc0 < kDirectGroup ? q.OC - oc0 : kDirectGroup;
    const RowFn fn = rowFor(B);
    const float* xs = xpad + n * q.sampleFloats;
    const float* wg = wpacked + oc0 * weightsPerChannel;
    float* rows[kDirectGroup];
    for (std::int64_t oy = 0; oy < q.OH; ++oy) {
      for (std::int64_t o = 0; o < B; ++o) rows[o] = y + (n * q.OC + oc0 + o) * P + (oz * q.OH + oy) * q.OW;
      for (std::int64_t x0 = 0; x0 < q.OW; x0 += 2 * kVec) fn(xs, wg, rows, x0, beta, q, oz, oy);
    }
  }
}

#else

void directConvForwardAvx512(const float*, const float*, float*, float, const DirectConvPlan&, int) {}

#endif

}  // namespace kaon::ops::cpu::simd
