#pragma once
// AVX-512 micro-kernel of Kaon's float32 GEMM (sgemm.cpp drives it; DESIGN.md: AVX-512 code lives
// only in this folder). sgemm_avx512.cpp is the only file compiled with -mavx512f; it holds no
// inline or template code shared with other files (an inline function compiled there could be
// picked by the linker for the whole program and fault on a CPU without AVX-512), and is only
// entered after avx512Usable() said yes.
//
// Micro-tile: kAvx512MR x 32 (rows x columns) in 16 zmm accumulators. B comes as the driver's
// 16-column panels (packed layout of sgemm.hpp): columns 0-15 of the tile from panel b0,
// columns 16-31 from panel b1 (null: a 16-column tile). A is packed in kAvx512MR-row panels:
// a[k * kAvx512MR + i].
#include <cstdint>

namespace kaon::ops::cpu::simd {

constexpr int kAvx512MR = 8;

// Whether the kernel was compiled in (x86-64 compiler with -mavx512f). Safe to call on any CPU:
// it executes no AVX-512 instruction.
bool avx512Compiled();
// avx512Compiled() and the CPU and the OS support AVX-512F (CPUID + XGETBV via
// __builtin_cpu_supports, checked once). Defined in sgemm.cpp, which is compiled without
// -mavx512f, so the check itself cannot fault on an older CPU.
bool avx512Usable();

// What the store applies after alpha * A * B + beta * C, for the last K block only.
struct TileEpilogue {
  const float* bias = nullptr;  // per tile row (already offset to the tile's first row), or null
  int mode = 0;                 // 0: nothing more, 1: ReLU, 2: LeakyReLU with `slope`
  float slope = 0.f;
};

// C[0:mr, 0:nr] = alpha * A * B + beta * C, then the epilogue (beta == 0: C is not read).
// mr <= kAvx512MR, nr <= 32 (<= 16 when b1 is null).
void avx512MicroKernel(std::int64_t kc, const float* a, const float* b0, const float* b1, float* c,
                       std::int64_t ldc, float alpha, float beta, std::int64_t mr, std::int64_t nr,
                       const TileEpilogue* epilogue);

}  // namespace kaon::ops::cpu::simd
