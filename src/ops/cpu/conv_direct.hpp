#pragma once
// Direct float32 convolution for layers with at most 4 output channels, stride 1, dilation 1
// (see conv_direct.cpp). Raw pointers in Kaon's layouts: x [N, C, D, H, W], w [OC, C, KD, KH, KW],
// y / dy [N, OC, OD, OH, OW].
#include "kaon/ops/conv_params.hpp"

namespace kaon::ops::cpu {

// Whether the direct kernels handle this geometry (and were compiled in: AVX2 + FMA).
bool directConvApplies(const ConvGeometry& g);
// y = beta * y + conv(x, w) (beta == 0: y is not read).
void directConvForward(const float* x, const float* w, float* y, float beta, const ConvGeometry& g);
// dw = beta * dw + dL/dw (beta == 0: dw is not read).
void directConvBackwardFilter(const float* x, const float* dy, float* dw, float beta, const ConvGeometry& g);

// The register-blocked AVX-512 forward (simd/conv_direct_avx512.hpp): at most 32 output
// channels, stride 1, dilation 1; false where the CPU has no AVX-512.
bool blockedDirectConvApplies(const ConvGeometry& g);
void blockedDirectConvForward(const float* x, const float* w, float* y, float beta, const ConvGeometry& g);

}  // namespace kaon::ops::cpu
