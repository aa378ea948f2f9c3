// Float32 GEMM drivers, see sgemm.hpp. Loop nest (BLIS order), per task tile of C:
//   jc (NC columns) -> pc (KC depth, pack B block [KC x NC] in 16-wide panels)
//     -> ic (MC rows, pack A block [MC x KC] in MR-high panels) -> jr (NRW) -> ir (MR): micro-kernel
// AVX2 sizes for Zen2/Zen4 (32 KiB L1d, >= 512 KiB L2, 16+ MiB L3): a 16 KiB B micro-panel in
// L1, a 144 KiB A block in L2, a B block of up to 4 MiB in L3. The AVX-512 kernel reads a B
// micro-panel of 2 x 16 columns, so it halves KC to keep that in L1 as well.
#include "sgemm.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "kaon/core/error.hpp"
#include "simd/sgemm_avx512.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define KAON_SGEMM_AVX2 1
#endif

namespace kaon::ops::cpu {

void applyActivationTile(float* c, std::int64_t ldc, std::int64_t mr, std::int64_t nr, Activation act, float alpha) {
  if (act == Activation::Identity) return;
  for (std::int64_t i = 0; i < mr; ++i) {
    float* row = c + i * ldc;
    for (std::int64_t j = 0; j < nr; ++j) {
      const float x = row[j];
      switch (act) {
        case Activation::Identity: break;
        case Activation::Relu: row[j] = x > 0.f ? x : 0.f; break;
        case Activation::LeakyRelu: row[j] = x > 0.f ? x : alpha * x; break;
        case Activation::Sigmoid: row[j] = 1.f / (1.f + std::exp(-x)); break;
        case Activation::Tanh: row[j] = std::tanh(x); break;
        case Activation::Elu: row[j] = x > 0.f ? x : alpha * std::expm1(x); break;
      }
    }
  }
}

namespace simd {
bool avx512Usable() {
#if defined(__x86_64__) || defined(_M_X64)
  static const bool usable = avx512Compiled() && __builtin_cpu_supports("avx512f");
  return usable;
#else
  return false;
#endif
}
}  // namespace simd

const char* sgemmKernelName(SgemmKernel kernel) {
  switch (kernel) {
    case SgemmKernel::Auto: return "auto";
    case SgemmKernel::Avx2: return "avx2";
    case SgemmKernel::Avx512: return "avx512";
  }
  return "?";
}

#if KAON_SGEMM_AVX2

bool sgemmAvx512Usable() { return simd::avx512Usable(); }

namespace {

std::atomic<SgemmKernel>& kernelChoice() {
  static std::atomic<SgemmKernel> choice = [] {
    const char* env = std::getenv("KAON_SGEMM_KERNEL");
    std::string v = env ? env : "auto";
    if (v == "avx2") return SgemmKernel::Avx2;
    if (v == "avx512") {
      KAON_CHECK(simd::avx512Usable(), "KAON_SGEMM_KERNEL=avx512, but this CPU or build has no AVX-512F");
      return SgemmKernel::Avx512;
    }
    KAON_CHECK(v == "auto" || v.empty(), "KAON_SGEMM_KERNEL='{}': expected avx2, avx512 or auto", v);
    return simd::avx512Usable() ? SgemmKernel::Avx512 : SgemmKernel::Avx2;
  }();
  return choice;
}

constexpr std::int64_t NR = kSgemmNR;

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
    KAON_CHECK(buffers[slot] != nullptr, "out of host memory for GEMM packing buffers ({} bytes)", bytes);
    sizes[slot] = count;
  }
  return buffers[slot].get();
}

// A[i0:i0+mc, k0:k0+kc] -> panels of MR rows: dst[p*kc*MR + k*MR + i], zero rows past mc.
template <std::int64_t MR>
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

// x = act(x + bias) for the modes the kernels apply in registers (see simd::TileEpilogue).
inline __m256 epilogue8(__m256 v, const simd::TileEpilogue* e, int row) {
  if (e->bias) v = _mm256_add_ps(v, _mm256_set1_ps(e->bias[row]));
  if (e->mode == 1) {
    v = _mm256_max_ps(v, _mm256_setzero_ps());
  } else if (e->mode == 2) {
    const __m256 neg = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
    v = _mm256_blendv_ps(v, _mm256_mul_ps(v, _mm256_set1_ps(e->slope)), neg);
  }
  return v;
}
inline float epilogue1(float v, const simd::TileEpilogue* e, int row) {
  if (e->bias) v += e->bias[row];
  if (e->mode == 1) v = v > 0.f ? v : 0.f;
  else if (e->mode == 2) v = v < 0.f ? v * e->slope : v;
  return v;
}

// AVX2 micro-kernel: C[0:mr, 0:nr] = alpha * Apanel * Bpanel + beta * C, then the epilogue.
inline void avx2MicroKernel(std::int64_t kc, const float* __restrict A, const float* __restrict B, float* C,
                            std::int64_t ldc, float alpha, float beta, std::int64_t mr, std::int64_t nr,
                            const simd::TileEpilogue* e) {
  constexpr std::int64_t MR = 6;
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
      if (e) v0 = epilogue8(v0, e, i), v1 = epilogue8(v1, e, i);
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
    for (std::int64_t j = 0; j < nr; ++j) {
      float v = beta == 0.f ? tmp[i][j] : std::fma(beta, C[i * ldc + j], tmp[i][j]);
      C[i * ldc + j] = e ? epilogue1(v, e, static_cast<int>(i)) : v;
    }
}

// Kernel descriptions: tile shape, cache blocking and the micro-kernel call. `b` points at the
// tile's first 16-column panel; panels are kc * 16 floats apart.
struct Avx2Kernel {
  static constexpr std::int64_t MR = 6, NRW = 16, KC = 256, MC = 144, NC = 4080;
  static void tile(std::int64_t kc, const float* a, const float* b, float* c, std::int64_t ldc, float alpha,
                   float beta, std::int64_t mr, std::int64_t nr, const simd::TileEpilogue* e) {
    avx2MicroKernel(kc, a, b, c, ldc, alpha, beta, mr, nr, e);
  }
};
struct Avx512Kernel {
  static constexpr std::int64_t MR = simd::kAvx512MR, NRW = 32, KC = 128, MC = 256, NC = 4096;
  static void tile(std::int64_t kc, const float* a, const float* b, float* c, std::int64_t ldc, float alpha,
                   float beta, std::int64_t mr, std::int64_t nr, const simd::TileEpilogue* e) {
    simd::avx512MicroKernel(kc, a, b, nr > 16 ? b + kc * NR : nullptr, c, ldc, alpha, beta, mr, nr, e);
  }
};
static_assert(Avx2Kernel::MC % Avx2Kernel::MR == 0 && Avx512Kernel::MC % Avx512Kernel::MR == 0);
static_assert(Avx2Kernel::NC % NR == 0 && Avx512Kernel::NC % Avx512Kernel::NRW == 0);

// Activations applied in registers (mode of simd::TileEpilogue); the others after the store.
int registerMode(Activation act) {
  return act == Activation::Relu ? 1 : act == Activation::LeakyRelu ? 2 : 0;
}
bool needsTilePass(Activation act) {
  return act == Activation::Sigmoid || act == Activation::Tanh || act == Activation::Elu;
}

// The serial blocked algorithm on C[i0:i1, j0:j1].
template <class K, class PackB>
void gemmTile(std::int64_t i0, std::int64_t i1, std::int64_t j0, std::int64_t j1, std::int64_t k, float alpha,
              const AOperand& a, const PackB& packB, float beta, float* c, std::int64_t ldc,
              const GemmEpilogue* epi) {
  float* bp = packBuffer(0, static_cast<std::size_t>(K::KC * K::NC));
  float* ap = a.packed ? nullptr : packBuffer(1, static_cast<std::size_t>(K::KC * K::MC));
  for (std::int64_t jc = j0; jc < j1; jc += K::NC) {
    const std::int64_t nc = std::min(K::NC, j1 - jc);
    for (std::int64_t pc = 0; pc < k; pc += K::KC) {
      const std::int64_t kc = std::min(K::KC, k - pc);
      const float betaBlock = pc == 0 ? beta : 1.f;
      const bool last = pc + kc >= k;
      packB(pc, kc, jc, nc, bp);
      for (std::int64_t ic = i0; ic < i1; ic += K::MC) {
        const std::int64_t mc = std::min(K::MC, i1 - ic);
        const float* apBlock = ap;
        if (a.packed) apBlock = a.packed->block(pc, ic);
        else packA<K::MR>(a.strided, ic, mc, pc, kc, ap);
        for (std::int64_t jr = 0; jr < nc; jr += K::NRW)
          for (std::int64_t ir = 0; ir < mc; ir += K::MR) {
            const std::int64_t mr = std::min(K::MR, mc - ir), nr = std::min(K::NRW, nc - jr);
            float* ct = c + (ic + ir) * ldc + jc + jr;
            simd::TileEpilogue te;
            const simd::TileEpilogue* tep = nullptr;
            if (last && epi) {
              te.bias = epi->rowBias ? epi->rowBias + ic + ir : nullptr;
              te.mode = registerMode(epi->act);
              te.slope = epi->alpha;
              tep = &te;
            }
            K::tile(kc, apBlock + ir * kc, bp + jr * kc, ct, ldc, alpha, betaBlock, mr, nr, tep);
            if (tep && needsTilePass(epi->act)) applyActivationTile(ct, ldc, mr, nr, epi->act, epi->alpha);
          }
      }
    }
  }
}

template <class K, class PackB>
void run(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const AOperand& a, const PackB& packB,
         float beta, float* c, std::int64_t ldc, int threads, const GemmEpilogue* epi) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {  // no product: C = act(beta * C + bias)
    for (std::int64_t i = 0; i < m; ++i) {
      const float bias = epi && epi->rowBias ? epi->rowBias[i] : 0.f;
      for (std::int64_t j = 0; j < n; ++j) c[i * ldc + j] = (beta == 0.f ? 0.f : beta * c[i * ldc + j]) + bias;
      if (epi) applyActivationTile(c + i * ldc, ldc, 1, n, epi->act, epi->alpha);
    }
    return;
  }
  const double flops = 2.0 * m * n * k;
  if (threads <= 1 || omp_in_parallel() || flops < 2e6) {
    gemmTile<K>(0, m, 0, n, k, alpha, a, packB, beta, c, ldc, epi);
    return;
  }
  // Tiles: about 4 per thread (handed out dynamically, so a thread slowed down by other load
  // is covered). Every tile packs its own panels, so a split into R row x C column tiles packs
  // B R times and A C times: pick the split with the least packing (R * K * N + C * M * K),
  // rows in MR multiples, columns in multiples of 4 NR. (A pre-packed A costs nothing per tile.)
  const std::int64_t wanted = 4 * threads;
  const std::int64_t maxRows = std::max<std::int64_t>(1, std::min<std::int64_t>((m + K::MR - 1) / K::MR, wanted));
  const std::int64_t maxCols = std::max<std::int64_t>(1, std::min<std::int64_t>((n + 4 * NR - 1) / (4 * NR), wanted));
  std::int64_t bestR = 1, bestC = 1;
  double bestCost = -1;
  for (std::int64_t r = 1; r <= maxRows; ++r) {
    const std::int64_t cols = std::min(maxCols, std::max<std::int64_t>(1, (wanted + r - 1) / r));
    if (r * cols < std::min<std::int64_t>(wanted, maxRows * maxCols) / 2) continue;  // too few tiles
    const double cost = static_cast<double>(r) * k * n + (a.packed ? 0.0 : static_cast<double>(cols) * m * k);
    if (bestCost < 0 || cost < bestCost) bestCost = cost, bestR = r, bestC = cols;
  }
  const std::int64_t rowStep = ((m + bestR - 1) / bestR + K::MR - 1) / K::MR * K::MR;
  const std::int64_t colStep = ((n + bestC - 1) / bestC + K::NRW - 1) / K::NRW * K::NRW;
  const std::int64_t nr = (m + rowStep - 1) / rowStep, ncols = (n + colStep - 1) / colStep;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (std::int64_t t = 0; t < nr * ncols; ++t) {
    const std::int64_t ti = t % nr, tj = t / nr;
    gemmTile<K>(ti * rowStep, std::min(m, (ti + 1) * rowStep), tj * colStep, std::min(n, (tj + 1) * colStep), k,
                alpha, a, packB, beta, c, ldc, epi);
  }
}

template <class PackB>
void dispatch(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const AOperand& a, const PackB& packB,
              float beta, float* c, std::int64_t ldc, int threads, const GemmEpilogue* epi) {
  const SgemmKernel kernel = activeSgemmKernel();
  if (a.packed) {
    KAON_CHECK(a.packed->kernel() == kernel && a.packed->rows() == m && a.packed->depth() == k,
               "sgemm: A packed for {} ({}x{}), used with {} ({}x{})", sgemmKernelName(a.packed->kernel()),
               a.packed->rows(), a.packed->depth(), sgemmKernelName(kernel), m, k);
  }
  if (kernel == SgemmKernel::Avx512) run<Avx512Kernel>(m, n, k, alpha, a, packB, beta, c, ldc, threads, epi);
  else run<Avx2Kernel>(m, n, k, alpha, a, packB, beta, c, ldc, threads, epi);
}

template <class K>
void packWhole(std::vector<float>& data, std::int64_t m, std::int64_t k, StridedMatrix a, std::int64_t& mPadded,
               std::int64_t& kc) {
  mPadded = (m + K::MR - 1) / K::MR * K::MR;
  kc = K::KC;
  data.resize(static_cast<std::size_t>(mPadded * std::max<std::int64_t>(k, 1)));
  for (std::int64_t pc = 0; pc < k; pc += K::KC) {
    const std::int64_t kcb = std::min(K::KC, k - pc);
    packA<K::MR>(a, 0, m, pc, kcb, data.data() + pc * mPadded);
  }
}

}  // namespace

bool sgemmAvailable() { return true; }

void setSgemmKernel(SgemmKernel kernel) {
  if (kernel == SgemmKernel::Auto) kernel = simd::avx512Usable() ? SgemmKernel::Avx512 : SgemmKernel::Avx2;
  KAON_CHECK(kernel != SgemmKernel::Avx512 || simd::avx512Usable(),
             "sgemm: the AVX-512 kernel needs AVX-512F in the CPU and a build that compiled it");
  kernelChoice().store(kernel);
}

SgemmKernel activeSgemmKernel() { return kernelChoice().load(std::memory_order_relaxed); }

void PackedA::pack(std::int64_t m, std::int64_t k, StridedMatrix a) {
  kernel_ = activeSgemmKernel();
  m_ = m, k_ = k;
  if (kernel_ == SgemmKernel::Avx512) packWhole<Avx512Kernel>(data_, m, k, a, mPadded_, kc_);
  else packWhole<Avx2Kernel>(data_, m, k, a, mPadded_, kc_);
}

const float* PackedA::block(std::int64_t k0, std::int64_t i) const {
  // Block pc starts after pc / KC full blocks of mPadded x KC; its panels are min(KC, k - k0) deep.
  return data_.data() + k0 * mPadded_ + i * std::min(kc_, k_ - k0);
}

void sgemm(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, AOperand a, StridedMatrix b, float beta,
           float* c, std::int64_t ldc, int threads, const GemmEpilogue* epilogue) {
  auto pack = [&b](std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc, float* dst) {
    packBStrided(b, k0, kc, j0, nc, dst);
  };
  dispatch(m, n, k, alpha, a, pack, beta, c, ldc, threads, epilogue);
}

void sgemmPackedB(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, AOperand a,
                  const BPanelPacker& packB, float beta, float* c, std::int64_t ldc, int threads,
                  const GemmEpilogue* epilogue) {
  dispatch(m, n, k, alpha, a, packB, beta, c, ldc, threads, epilogue);
}

#else  // no AVX2: callers fall back to Eigen

bool sgemmAvailable() { return false; }
bool sgemmAvx512Usable() { return false; }
void setSgemmKernel(SgemmKernel kernel) {
  KAON_CHECK(kernel == SgemmKernel::Auto, "sgemm: this build has no own GEMM kernels (needs AVX2 + FMA)");
}
SgemmKernel activeSgemmKernel() { return SgemmKernel::Avx2; }
void PackedA::pack(std::int64_t, std::int64_t, StridedMatrix) { std::abort(); }
const float* PackedA::block(std::int64_t, std::int64_t) const { std::abort(); }
void sgemm(std::int64_t, std::int64_t, std::int64_t, float, AOperand, StridedMatrix, float, float*, std::int64_t, int,
           const GemmEpilogue*) {
  std::abort();
}
void sgemmPackedB(std::int64_t, std::int64_t, std::int64_t, float, AOperand, const BPanelPacker&, float, float*,
                  std::int64_t, int, const GemmEpilogue*) {
  std::abort();
}

#endif

}  // namespace kaon::ops::cpu
