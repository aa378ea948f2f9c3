#pragma once
// AVX-512 register-blocked direct convolution rows (forward, stride 1, dilation 1), driven by
// conv_direct.cpp's blockedDirectConvForward, which pads the input and repacks the weights.
// Same rules as sgemm_avx512.hpp: only entered after avx512Usable(), and the .cpp uses no
// inline or template code shared with other files (no std:: containers or algorithms).
//
// A task computes a row of outputs y[n, oc0 .. oc0+B, oz, oy, :] for a group of B <= 8 output
// channels, 32 outputs (two zmm vectors) at a time: 2B accumulators stay in registers while the
// loop runs over every input channel and kernel tap, loading two input vectors per tap and
// broadcasting B adjacent weights, i.e. 2B FMAs per 2 loads: FMA-bound, not load-bound.
#include <cstdint>

namespace kaon::ops::cpu::simd {

constexpr std::int64_t kDirectGroup = 8;  // output channels per register block

struct DirectConvPlan {
  std::int64_t batch, C, D, H, OC, OD, OH, OW, KD, KH, KW, pz, py;
  std::int64_t Wp;            // padded row length, OW + KW - 1
  std::int64_t sampleFloats;  // C * D * H * Wp: one sample of the padded input
};

// xpad: [batch, C, D, H, Wp] x-padded input followed by at least 32 floats of slack;
// wpacked: per group of kDirectGroup output channels (the last may be smaller, B), the group's
// weights as [C, KD, KH, KW, B] at offset oc0 * C * KD * KH * KW; y = beta * y + conv.
void directConvForwardAvx512(const float* xpad, const float* wpacked, float* y, float beta, const DirectConvPlan& q,
                             int threads);

}  // namespace kaon::ops::cpu::simd
