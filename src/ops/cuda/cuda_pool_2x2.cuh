#pragma once
// Max pooling over 2x2 windows with stride 2 that tile the input (the jet CNN's and most CNNs'
// pools), without loops or per-tap bounds checks: every thread loads its window as two aligned
// pairs and stores its output and argmax once (forward), or reads one output gradient and writes
// its window as two pairs (backward). Same results and argmax convention as the generic kernels
// (flat index in the input plane, first maximum in row-major order wins).
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_launch.hpp"

namespace kaon::ops::cuda {

// Whether the 2x2 kernels serve geometry g; `pairs` is the input-sized tensor they access in
// pairs (x forward, dx backward), which must be aligned to two elements.
bool pool2x2Applies(PoolKind kind, const Geom3& g, const void* pairs, std::size_t elemBytes);

template <class T>
void maxPool2x2Forward(const T* x, T* y, std::int32_t* argmax, const Geom3& g, cudaStream_t s);
template <class T>
void maxPool2x2Backward(const T* dy, const std::int32_t* argmax, T* dx, double beta, const Geom3& g, cudaStream_t s);

}  // namespace kaon::ops::cuda
