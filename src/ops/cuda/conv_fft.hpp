#pragma once
// Convolutions through cuFFT, for the long kernels of the 3DGAN (5x6x6, 6x5x8, 3x3x8 taps on 6-64
// channels) where every cuDNN engine is slow, worst for the filter gradients.
//
// With zero-padded volumes of FFT size L >= D + pad (per axis; no wrap-around for the needed
// outputs), for each sample n, input channel c and output channel o:
//   forward          y[n,o]  = crop( IFFT( sum_c X[n,c] . conj(W[o,c]) ) )
//   data gradient    dx[n,c] = crop( IFFT( sum_o DY[n,o] . W[o,c] ) )
//   filter gradient  dw[o,c] = crop( IFFT( sum_n conj(DY[n,o]) . X[n,c] ) )
// Three batched real FFTs (cuFFT R2C/C2R, FP32) and one pass of per-frequency products over the
// channels (spectralProduct, FP32 accumulation). The work no longer grows with the kernel's
// volume: for the 3DGAN's 32 -> 8 channel 5x6x6 layer it is ~2 GFLOP of products and a few
// hundred MB of FFT traffic per call instead of 109 GFLOP of direct convolution.
// 16-bit inputs are converted to FP32 while packed, and the result rounded once when unpacked.
// Deterministic (fixed reduction order, no atomics). Samples are processed in chunks that fit
// the memory budget; the filter gradient sums its chunks in the frequency domain.
// cuda_conv.cpp times this path beside cuDNN once per geometry and compares its result with
// cuDNN's before using it.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "kaon/core/dtype.hpp"
#include "kaon/ops/conv_params.hpp"

namespace kaon::ops::cudak::fftconv {

enum class Op { Forward, BackwardData, BackwardFilter };

struct Plan;  // cuFFT plans, sizes and chunking of one (op, geometry, dtype)

// A plan for `op` on geometry `g` (symmetric padding: the cuDNN view), processing at most
// `maxChunk` samples at a time within `budgetBytes` of workspace; null when the FFT path does
// not apply (stride or dilation other than 1, a 1-tap kernel, FP64, or no chunk fits).
std::shared_ptr<const Plan> makePlan(Op op, const ConvGeometry& g, DType dtype, std::size_t budgetBytes,
                                     std::int64_t maxChunk);

std::size_t workspaceBytes(const Plan& plan);
std::int64_t chunkSamples(const Plan& plan);

// Runs the op on channels-first operands: reads two of x [N, C, *in], w [OC, C, *K],
// y [N, OC, *out] and writes the third (y for forward, x for the data gradient, w for the
// filter gradient) as beta * output + result. `workspace`: workspaceBytes(plan) bytes.
void run(const Plan& plan, const void* x, const void* w, const void* y, void* output, double beta, void* workspace,
         cudaStream_t stream);

// FFT convolutions run so far in this process (tests check that the path really ran).
std::int64_t executions();

}  // namespace kaon::ops::cudak::fftconv
