#pragma once
// Kaon's own float32 GEMM for x86-64 with AVX2 + FMA (BLIS-style: packed A and B panels,
// a 6x16 register-blocked micro-kernel, cache blocking KC/MC/NC tuned for Zen2).
//
//   C[M, N] = alpha * A[M, K] * B[K, N] + beta * C      (beta == 0: C is not read)
//
// A and B are given by element strides, so every transpose is the same call: element (i, k)
// of A is a.data[i * a.rowStride + k * a.colStride]. C is row-major with leading dimension ldc.
// B may instead be produced on the fly by a packer (implicit im2col), see BPanelSource.
//
// Threads: `threads` > 1 splits C into tiles handed out dynamically to OpenMP threads (each
// packs its own panels, no other synchronisation). Inside an OpenMP parallel region the call
// always runs on the calling thread alone. Results do not depend on the thread count: every
// C element is computed by one thread with the same K-order of accumulation.
#include <cstdint>
#include <functional>

namespace kaon::ops::cpu {

// Whether the AVX2 kernel was compiled in (needs -mavx2 -mfma, e.g. KAON_NATIVE on x86-64).
bool sgemmAvailable();

struct StridedMatrix {
  const float* data;
  std::int64_t rowStride, colStride;
};

// Packs B[k0:k0+kc, j0:j0+nc] into panels of 16 columns: for panel p, k in [0, kc),
// dst[p * kc * 16 + k * 16 + j] = B(k0 + k, j0 + p * 16 + j), zero for columns >= nc.
using BPanelPacker = std::function<void(std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc, float* dst)>;

// C = alpha * A * B + beta * C with a strided B.
void sgemm(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, StridedMatrix a, StridedMatrix b, float beta,
           float* c, std::int64_t ldc, int threads);
// The same with B produced by `packB` (called concurrently from several threads when threads > 1).
void sgemmPackedB(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, StridedMatrix a,
                  const BPanelPacker& packB, float beta, float* c, std::int64_t ldc, int threads);

constexpr int kSgemmNR = 16;  // panel width a BPanelPacker fills

}  // namespace kaon::ops::cpu
