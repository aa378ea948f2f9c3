#pragma once
// Kaon's own float32 GEMM for x86-64 (BLIS-style: packed A and B panels, a register-blocked
// micro-kernel, cache blocking KC/MC/NC). Two micro-kernels, chosen at run time:
//   avx2   6 x 16 in 12 ymm accumulators (needs the build to have -mavx2 -mfma, e.g. KAON_NATIVE)
//   avx512 8 x 32 in 16 zmm accumulators (simd/sgemm_avx512.cpp, compiled with -mavx512f; used
//          when the CPU has AVX-512F), so one binary runs on both kinds of machine.
// KAON_SGEMM_KERNEL=avx2|avx512|auto (default auto) or setSgemmKernel() override the choice.
//
//   C[M, N] = act(alpha * A[M, K] * B[K, N] + beta * C + rowBias)     (beta == 0: C is not read)
//
// A and B are given by element strides, so every transpose is the same call: element (i, k)
// of A is a.data[i * a.rowStride + k * a.colStride]. C is row-major with leading dimension ldc.
// B may instead be produced on the fly by a packer (implicit im2col), see BPanelPacker, and A
// may be packed once for several GEMMs (PackedA). The epilogue (bias, activation) is applied
// in the micro-kernel's store after the last K block, while the tile is in registers.
//
// Threads: `threads` > 1 splits C into tiles handed out dynamically to OpenMP threads (each
// packs its own panels, no other synchronisation). Inside an OpenMP parallel region the call
// always runs on the calling thread alone. Results do not depend on the thread count: every
// C element is computed by one thread with the same K-order of accumulation (for a given kernel).
#include <cstdint>
#include <functional>
#include <vector>

#include "kaon/ops/kinds.hpp"

namespace kaon::ops::cpu {

// Whether a kernel was compiled in (the AVX2 one needs -mavx2 -mfma, e.g. KAON_NATIVE on x86-64).
bool sgemmAvailable();

enum class SgemmKernel { Auto, Avx2, Avx512 };
// Selects the micro-kernel for later calls (Auto: AVX-512 where usable, else AVX2). Throws
// kaon::Error for Avx512 on a CPU or build without it. Not to be changed while GEMMs run.
void setSgemmKernel(SgemmKernel kernel);
SgemmKernel activeSgemmKernel();  // never Auto
bool sgemmAvx512Usable();
const char* sgemmKernelName(SgemmKernel kernel);

struct StridedMatrix {
  const float* data;
  std::int64_t rowStride, colStride;
};

// Applied to every C element after the full K sum: c = act(c + rowBias[i]).
struct GemmEpilogue {
  const float* rowBias = nullptr;  // [M] or null
  Activation act = Activation::Identity;
  float alpha = 0.f;  // LeakyRelu's negative slope, Elu's scale
};

// A [M, K] packed once in the active kernel's panel layout, for GEMMs that share it (a
// convolution's weights across the samples of a batch). pack() reuses the buffer's capacity.
// Valid for GEMMs run with the kernel that was active when it was packed (checked).
class PackedA {
 public:
  void pack(std::int64_t m, std::int64_t k, StridedMatrix a);
  std::int64_t rows() const { return m_; }
  std::int64_t depth() const { return k_; }
  // The panels of rows [i, ...) for the K block starting at k0 (i a multiple of the kernel's MR).
  const float* block(std::int64_t k0, std::int64_t i) const;
  SgemmKernel kernel() const { return kernel_; }

 private:
  std::vector<float> data_;
  std::int64_t m_ = 0, k_ = 0, mPadded_ = 0, kc_ = 0;
  SgemmKernel kernel_ = SgemmKernel::Auto;
};

// Either a strided A or a pre-packed one.
struct AOperand {
  AOperand(StridedMatrix s) : strided(s) {}  // NOLINT: implicit on purpose
  AOperand(const PackedA& p) : packed(&p) {}  // NOLINT
  StridedMatrix strided{nullptr, 0, 0};
  const PackedA* packed = nullptr;
};

// Packs B[k0:k0+kc, j0:j0+nc] into panels of 16 columns: for panel p, k in [0, kc),
// dst[p * kc * 16 + k * 16 + j] = B(k0 + k, j0 + p * 16 + j), zero for columns >= nc.
using BPanelPacker = std::function<void(std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc, float* dst)>;

// C = act(alpha * A * B + beta * C + bias) with a strided B (epilogue null: no bias, identity).
void sgemm(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, AOperand a, StridedMatrix b, float beta,
           float* c, std::int64_t ldc, int threads, const GemmEpilogue* epilogue = nullptr);
// The same with B produced by `packB` (called concurrently from several threads when threads > 1).
void sgemmPackedB(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, AOperand a,
                  const BPanelPacker& packB, float beta, float* c, std::int64_t ldc, int threads,
                  const GemmEpilogue* epilogue = nullptr);

constexpr int kSgemmNR = 16;  // panel width a BPanelPacker fills

// c[i * ldc + j] = act(c[...]) for i < mr, j < nr: the activations the micro-kernels do not
// apply in registers (Sigmoid, Tanh, Elu), on a tile just stored (in L1).
void applyActivationTile(float* c, std::int64_t ldc, std::int64_t mr, std::int64_t nr, Activation act, float alpha);

}  // namespace kaon::ops::cpu
