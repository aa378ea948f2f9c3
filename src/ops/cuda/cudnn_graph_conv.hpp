#pragma once
// Convolutions through cuDNN's graph (backend) API: the engines PyTorch's cuDNN frontend uses,
// which the legacy cudnnFind* API does not offer. For 3-D convolutions with odd kernels the
// legacy filter-gradient algorithms are 8-25x slower than these (docs/perf-notes.md §8).
//
// tune() asks cuDNN's heuristics for candidate engines, builds an execution plan for each, times
// them on the caller's buffers and keeps the fastest; execute() runs it. Everything is per
// geometry: the caller caches the returned plan.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <cudnn.h>

namespace kaon::ops::cudak::graph {

enum class Op { Forward, BackwardData, BackwardFilter };

// Packed N-D tensors: x [N, C, *S], w [OC, C, *K], y [N, OC, *O]; spatial settings per axis.
struct ConvDesc {
  Op op = Op::Forward;
  std::vector<std::int64_t> x, w, y;
  std::vector<std::int64_t> pad, stride, dilation;
  cudnnDataType_t data = CUDNN_DATA_FLOAT;
  bool allowTensorCores = false;  // false: true FP32 (no TF32), no down-converted inputs
  bool channelsLast = false;      // x, w, y stored [N, *S, C] (w: [OC, *K, C]); dims stay as above
  double alpha = 1.0, beta = 0.0; // baked into the plan (the output is alpha*op + beta*output)
};

struct Plan;  // the operation graph, the chosen engine configuration and its execution plan

struct Tuned {
  std::shared_ptr<const Plan> plan;  // null when no engine supports the convolution
  float ms = 0;                      // the best candidate's time
  std::size_t workspace = 0;
  std::int64_t engineId = -1;
};

// Times up to `maxCandidates` engines of each heuristics list (mode A, then fallback) on the
// given device buffers (the output buffer is overwritten) with at most `workspaceLimit` bytes of
// the given workspace. Engines that fail to build or run are skipped; errors never escape (the
// caller falls back to the legacy API).
Tuned tune(cudnnHandle_t handle, const ConvDesc& d, void* x, void* w, void* y, void* workspace,
           std::size_t workspaceLimit, int maxCandidates = 8);

// Runs a tuned plan. Pointers must be 16-byte aligned (the plan was built for that).
void execute(cudnnHandle_t handle, const Plan& plan, void* x, void* w, void* y, void* workspace);

// Graph-plan executions so far in this process (tests check that the path really ran).
std::int64_t executions();

// Whether a device pointer satisfies the alignment the plans are built for.
inline bool aligned(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; }

}  // namespace kaon::ops::cudak::graph
