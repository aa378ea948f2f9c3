// AVX2/FMA float32 GEMM, see sgemm.hpp. Loop nest (BLIS order), per task tile of C:
//   jc (NC columns) -> pc (KC depth, pack B block [KC x NC] in 16-wide panels)
//     -> ic (MC rows, pack A block [MC x KC] in 6-high panels) -> jr (16) -> ir (6): micro-kernel
// Sizes for Zen2 (32 KiB L1d, 512 KiB L2, 16 MiB L3 shared): a 16 KiB B micro-panel in L1,
// a 144 KiB A block in L2, a B block of up to 4 MiB in L3.
#include "sgemm.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define KAON_SGEMM_AVX2 1
#endif

namespace kaon::ops::cpu {

#if KAON_SGEMM_AVX2

namespace {

constexpr std::int64_t MR = 6, NR = kSgemmNR, KC = 256, MC = 144, NC = 4080;

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};

// Per-thread 64-byte aligned packing buffers, grown on demand and kept.
float* packBuffer(int slot, std::size_t count) {
  thread_local std::unique_ptr<float, FreeDeleter> buffers[2];
  thread_local std::size_t sizes[2] = {0, 0};
  if (sizes[slot] < count) {
    std::size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
    buffers[slot].reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    sizes[slot] = count;
  }
  return buffers[slot].get();
}

// A[i0:i0+mc, k0:k0+kc] -> panels of MR rows: dst[p*kc*MR + k*MR + i].
void packA(const StridedMatrix& a, std::int64_t i0, std::int64_t mc, std::int64_t k0, std::int64_t kc, float* dst) {
  for (std::int64_t ip = 0; ip < mc; ip += MR, dst += kc * MR) {
    const std::int64_t mr = std::min(MR, mc - ip);
    const float* src = a.data + (i0 + ip) * a.rowStride + k0 * a.colStride;
    if (mr == MR && a.colStride == 1) {
      const float* r[MR];
      for (int i = 0; i < MR; ++i) r[i] = src + i * a.rowStride;
      for (std::int64_t k = 0; k < kc; ++k)
        for (int i = 0; i < MR; ++i) dst[k * MR + i] = r[i][k];
    } else if (mr == MR && a.rowStride == 1) {
      for (std::int64_t k = 0; k < kc; ++k) std::memcpy(dst + k * MR, src + k * a.colStride, MR * sizeof(float));
    } else {
      for (std::int64_t k = 0; k < kc; ++k)
        for (std::int64_t i = 0; i < MR; ++i)
          dst[k * MR + i] = i < mr ? src[i * a.rowStride + k * a.colStride] : 0.f;
    }
  }
}

// Strided B[k0:k0+kc, j0:j0+nc] -> panels of NR columns.
void packBStrided(const StridedMatrix& b, std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc,
                  float* dst) {
  for (std::int64_t jp = 0; jp < nc; jp += NR, dst += kc * NR) {
    const std::int64_t nr = std::min(NR, nc - jp);
    const float* src = b.data + k0 * b.rowStride + (j0 + jp) * b.colStride;
    if (nr == NR && b.colStride == 1) {
      for (std::int64_t k = 0; k < kc; ++k) {
        const float* s = src + k * b.rowStride;
        _mm256_store_ps(dst + k * NR, _mm256_loadu_ps(s));
        _mm256_store_ps(dst + k * NR + 8, _mm256_loadu_ps(s + 8));
      }
    } else if (b.rowStride == 1) {
      // Transposed B: columns are contiguous in memory; read along k.
      for (std::int64_t j = 0; j < NR; ++j) {
        if (j < nr) {
          const float* s = src + j * b.colStride;
          for (std::int64_t k = 0; k < kc; ++k) dst[k * NR + j] = s[k];
        } else {
          for (std::int64_t k = 0; k < kc; ++k) dst[k * NR + j] = 0.f;
        }
      }
    } else {
      for (std::int64_t k = 0; k < kc; ++k)
        for (std::int64_t j = 0; j < NR; ++j) dst[k * NR + j] = j < nr ? src[k * b.rowStride + j * b.colStride] : 0.f;
    }
  }
}

// C[0:mr, 0:nr] = alpha * Apanel * Bpanel + beta * C (beta == 0: C not read).
inline void microKernel(std::int64_t kc, const float* __restrict A, const float* __restrict B, float* C,
                        std::int64_t ldc, float alpha, float beta, std::int64_t mr, std::int64_t nr) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(),
         c11 = _mm256_setzero_ps(), c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(),
         c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c40 = _mm256_setzero_ps(),
         c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int i = 0; i < 6 && i < mr; ++i) _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc), _MM_HINT_T0);
#pragma GCC unroll 4
  for (std::int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(B), b1 = _mm256_load_ps(B + 8);
    __m256 a = _mm256_broadcast_ss(A + 0);
    c00 = _mm256_fmadd_ps(a, b0, c00), c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(A + 1);
    c10 = _mm256_fmadd_ps(a, b0, c10), c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(A + 2);
    c20 = _mm256_fmadd_ps(a, b0, c20), c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(A + 3);
    c30 = _mm256_fmadd_ps(a, b0, c30), c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(A + 4);
    c40 = _mm256_fmadd_ps(a, b0, c40), c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(A + 5);
    c50 = _mm256_fmadd_ps(a, b0, c50), c51 = _mm256_fmadd_ps(a, b1, c51);
    A += MR, B += NR;
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  __m256 acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (mr == MR && nr == NR) {
    for (int i = 0; i < 6; ++i) {
      float* ci = C + i * ldc;
      __m256 v0 = _mm256_mul_ps(va, acc[i][0]), v1 = _mm256_mul_ps(va, acc[i][1]);
      if (beta != 0.f) {
        v0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), v0);
        v1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8), v1);
      }
      _mm256_storeu_ps(ci, v0);
      _mm256_storeu_ps(ci + 8, v1);
    }
    return;
  }
  alignas(32) float tmp[MR][NR];
  for (int i = 0; i < 6; ++i) {
    _mm256_store_ps(tmp[i], _mm256_mul_ps(va, acc[i][0]));
    _mm256_store_ps(tmp[i] + 8, _mm256_mul_ps(va, acc[i][1]));
  }
  for (std::int64_t i = 0; i < mr; ++i)
    for (std::int64_t j = 0; j < nr; ++j)
      C[i * ldc + j] = beta == 0.f ? tmp[i][j] : std::fma(beta, C[i * ldc + j], tmp[i][j]);
}

// The serial blocked algorithm on C[i0:i1, j0:j1].
template <class PackB>
void gemmTile(std::int64_t i0, std::int64_t i1, std::int64_t j0, std::int64_t j1, std::int64_t k, float alpha,
              const StridedMatrix& a, const PackB& packB, float beta, float* c, std::int64_t ldc) {
  float* bp = packBuffer(0, static_cast<std::size_t>(KC * NC));
  float* ap = packBuffer(1, static_cast<std::size_t>(KC * MC));
  for (std::int64_t jc = j0; jc < j1; jc += NC) {
    const std::int64_t nc = std::min(NC, j1 - jc);
    for (std::int64_t pc = 0; pc < k; pc += KC) {
      const std::int64_t kc = std::min(KC, k - pc);
      const float betaBlock = pc == 0 ? beta : 1.f;
      packB(pc, kc, jc, nc, bp);
      for (std::int64_t ic = i0; ic < i1; ic += MC) {
        const std::int64_t mc = std::min(MC, i1 - ic);
        packA(a, ic, mc, pc, kc, ap);
        for (std::int64_t jr = 0; jr < nc; jr += NR)
          for (std::int64_t ir = 0; ir < mc; ir += MR)
            microKernel(kc, ap + ir * kc, bp + jr * kc, c + (ic + ir) * ldc + jc + jr, ldc, alpha, betaBlock,
                        std::min(MR, mc - ir), std::min(NR, nc - jr));
      }
    }
  }
}

template <class PackB>
void run(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const StridedMatrix& a, const PackB& packB,
         float beta, float* c, std::int64_t ldc, int threads) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.f ? 0.f : beta * c[i * ldc + j];
    return;
  }
  const double flops = 2.0 * m * n * k;
  if (threads <= 1 || omp_in_parallel() || flops < 2e6) {
    gemmTile(0, m, 0, n, k, alpha, a, packB, beta, c, ldc);
    return;
  }
  // Tiles: about 4 per thread (handed out dynamically, so a thread slowed down by other load
  // is covered). Every tile packs its own panels, so a split into R row x C column tiles packs
  // B R times and A C times: pick the split with the least packing (R * K * N + C * M * K),
  // rows in MR multiples, columns in multiples of 4 NR.
  const std::int64_t wanted = 4 * threads;
  const std::int64_t maxRows = std::max<std::int64_t>(1, std::min<std::int64_t>((m + MR - 1) / MR, wanted));
  const std::int64_t maxCols = std::max<std::int64_t>(1, std::min<std::int64_t>((n + 4 * NR - 1) / (4 * NR), wanted));
  std::int64_t bestR = 1, bestC = 1;
  double bestCost = -1;
  for (std::int64_t r = 1; r <= maxRows; ++r) {
    const std::int64_t cols = std::min(maxCols, std::max<std::int64_t>(1, (wanted + r - 1) / r));
    if (r * cols < std::min<std::int64_t>(wanted, maxRows * maxCols) / 2) continue;  // too few tiles
    const double cost = static_cast<double>(r) * k * n + static_cast<double>(cols) * m * k;
    if (bestCost < 0 || cost < bestCost) bestCost = cost, bestR = r, bestC = cols;
  }
  const std::int64_t rowStep = ((m + bestR - 1) / bestR + MR - 1) / MR * MR;
  const std::int64_t colStep = ((n + bestC - 1) / bestC + NR - 1) / NR * NR;
  const std::int64_t nr = (m + rowStep - 1) / rowStep, ncols = (n + colStep - 1) / colStep;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (std::int64_t t = 0; t < nr * ncols; ++t) {
    const std::int64_t ti = t % nr, tj = t / nr;
    gemmTile(ti * rowStep, std::min(m, (ti + 1) * rowStep), tj * colStep, std::min(n, (tj + 1) * colStep), k, alpha,
             a, packB, beta, c, ldc);
  }
}

}  // namespace

bool sgemmAvailable() { return true; }

void sgemm(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, StridedMatrix a, StridedMatrix b, float beta,
           float* c, std::int64_t ldc, int threads) {
  auto pack = [&b](std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc, float* dst) {
    packBStrided(b, k0, kc, j0, nc, dst);
  };
  run(m, n, k, alpha, a, pack, beta, c, ldc, threads);
}

void sgemmPackedB(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, StridedMatrix a,
                  const BPanelPacker& packB, float beta, float* c, std::int64_t ldc, int threads) {
  run(m, n, k, alpha, a, packB, beta, c, ldc, threads);
}

#else  // no AVX2: callers fall back to Eigen

bool sgemmAvailable() { return false; }
void sgemm(std::int64_t, std::int64_t, std::int64_t, float, StridedMatrix, StridedMatrix, float, float*, std::int64_t,
           int) {
  std::abort();
}
void sgemmPackedB(std::int64_t, std::int64_t, std::int64_t, float, StridedMatrix, const BPanelPacker&, float, float*,
                  std::int64_t, int) {
  std::abort();
}

#endif

}  // namespace kaon::ops::cpu
