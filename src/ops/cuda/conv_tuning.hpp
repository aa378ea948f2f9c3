#pragma once
// Helpers of the convolution autotuner (cuda_conv.cpp): timing a candidate and comparing its
// result with a reference on the host.
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "kaon/core/dtype.hpp"

namespace kaon::ops::cudak {

// Milliseconds of one run of `f` on `stream`, after one untimed warm-up run (plans, heuristics).
float timeOnce(const std::function<void()>& f, cudaStream_t stream);

// n device values of type t (fp32, bf16 or fp16), as floats on the host.
std::vector<float> hostFloats(const void* device, std::int64_t n, DType t);

// max |a - ref| / max |ref| over n device values of type t, after the stream's work (a huge
// value when a is not finite).
double normalisedError(const void* a, const void* ref, std::int64_t n, DType t, cudaStream_t stream);

}  // namespace kaon::ops::cudak
