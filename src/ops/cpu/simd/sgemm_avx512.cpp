// AVX-512 sgemm micro-kernel, see sgemm_avx512.hpp. Compiled with -mavx512f (src/CMakeLists.txt)
// when the compiler targets x86-64; plain intrinsics and C-style loops only (no standard-library
// templates or inline functions from other headers: see the header on why).
#include "sgemm_avx512.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace kaon::ops::cpu::simd {

#if defined(__AVX512F__)

bool avx512Compiled() { return true; }

namespace {

// Row i of the tile: v = alpha * acc (+ beta * C) (+ bias), activation, masked store of the
// first `cols` of 16 columns starting at c.
inline void storeRow(__m512 acc, float* c, __mmask16 cols, __m512 va, float beta, const TileEpilogue* e, int i) {
  __m512 v = _mm512_mul_ps(va, acc);
  if (beta != 0.f) v = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(cols, c), v);
  if (e) {
    if (e->bias) v = _mm512_add_ps(v, _mm512_set1_ps(e->bias[i]));
    if (e->mode == 1) {
      // maskz form: GCC 12's _mm512_max_ps trips -Wmaybe-uninitialized on _mm512_undefined_ps.
      v = _mm512_maskz_max_ps(static_cast<__mmask16>(0xFFFF), v, _mm512_setzero_ps());
    } else if (e->mode == 2) {
      const __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
      v = _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(e->slope));
    }
  }
  _mm512_mask_storeu_ps(c, cols, v);
}

inline __mmask16 columnMask(long long n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n > 0 ? n : 0)) - 1u);
}

// One k step of an 8-row, 32-column tile: 2 B loads, 8 broadcasts, 16 FMAs.
#define KAON_ROW2(i)                                  \
  do {                                                \
    const __m512 ai = _mm512_set1_ps(a[i]);           \
    c##i##0 = _mm512_fmadd_ps(ai, vb0, c##i##0);      \
    c##i##1 = _mm512_fmadd_ps(ai, vb1, c##i##1);      \
  } while (0)
#define KAON_ROW1(i)                                  \
  do {                                                \
    c##i##0 = _mm512_fmadd_ps(_mm512_set1_ps(a[i]), vb0, c##i##0); \
  } while (0)

}  // namespace

void avx512MicroKernel(std::int64_t kc, const float* a, const float* b0, const float* b1, float* c,
                       std::int64_t ldc, float alpha, float beta, std::int64_t mr, std::int64_t nr,
                       const TileEpilogue* epilogue) {
  static_assert(kAvx512MR == 8, "the kernel body is written out for 8 rows");
  __m512 c00 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps(), c20 = _mm512_setzero_ps(),
         c30 = _mm512_setzero_ps(), c40 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps(),
         c60 = _mm512_setzero_ps(), c70 = _mm512_setzero_ps();
  __m512 c01 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps(),
         c31 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps(),
         c61 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
  for (std::int64_t i = 0; i < mr; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
  if (b1) {
#pragma GCC unroll 4
    for (std::int64_t k = 0; k < kc; ++k) {
      const __m512 vb0 = _mm512_load_ps(b0), vb1 = _mm512_load_ps(b1);
      KAON_ROW2(0); KAON_ROW2(1); KAON_ROW2(2); KAON_ROW2(3);
      KAON_ROW2(4); KAON_ROW2(5); KAON_ROW2(6); KAON_ROW2(7);
      a += kAvx512MR, b0 += 16, b1 += 16;
    }
  } else {
#pragma GCC unroll 4
    for (std::int64_t k = 0; k < kc; ++k) {
      const __m512 vb0 = _mm512_load_ps(b0);
      KAON_ROW1(0); KAON_ROW1(1); KAON_ROW1(2); KAON_ROW1(3);
      KAON_ROW1(4); KAON_ROW1(5); KAON_ROW1(6); KAON_ROW1(7);
      a += kAvx512MR, b0 += 16;
    }
  }
  const __m512 va = _mm512_set1_ps(alpha);
  const __mmask16 m0 = columnMask(nr), m1 = columnMask(b1 ? nr - 16 : 0);
  const __m512 lo[8] = {c00, c10, c20, c30, c40, c50, c60, c70};
  const __m512 hi[8] = {c01, c11, c21, c31, c41, c51, c61, c71};
  for (int i = 0; i < 8 && i < mr; ++i) {
    float* ci = c + i * ldc;
    storeRow(lo[i], ci, m0, va, beta, epilogue, i);
    if (m1) storeRow(hi[i], ci + 16, m1, va, beta, epilogue, i);
  }
}

#undef KAON_ROW2
#undef KAON_ROW1

#else  // not compiled for AVX-512: never entered

bool avx512Compiled() { return false; }
void avx512MicroKernel(std::int64_t, const float*, const float*, const float*, float*, std::int64_t, float, float,
                       std::int64_t, std::int64_t, const TileEpilogue*) {
  __builtin_trap();
}

#endif

}  // namespace kaon::ops::cpu::simd
