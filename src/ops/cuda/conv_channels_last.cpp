// Channels-last convolutions on channels-first tensors (conv_channels_last.hpp): transposes
// around a cuDNN graph engine built for [N, *S, C] operands.
#include "conv_channels_last.hpp"

#include <algorithm>
#include <atomic>

#include "../../cuda/cuda_check.hpp"
#include "../../cuda/cuda_context.hpp"
#include "cuda_dtype.hpp"
#include "cuda_launch.hpp"

namespace kaon::ops::cudak::channelslast {
namespace {

using i64 = std::int64_t;
std::atomic<i64> gExecutions{0};

// in [batch, rows, cols] -> out [batch, cols, rows], out = beta*out + transposed.
void transpose(DType t, const void* in, void* out, i64 batch, i64 rows, i64 cols, double beta, cudaStream_t s) {
  dispatch("channels-last transpose", t, [&](auto tag) {
    using T = decltype(tag);
    cuda::transposeBatched<T>(static_cast<const T*>(in), static_cast<T*>(out), batch, rows, cols, beta, s);
  });
}

Tensor buffer(i64 elems, DType t, Device d) { return Tensor::empty(Shape{std::max<i64>(elems, 1)}, t, d); }

// The channels-last copies of one op's operands: the inputs transposed from the caller's
// buffers, the output allocated (filled by the engine, transposed back by finish()).
struct Transposed {
  Tensor x, w, y;
};

Transposed prepareOperands(graph::Op op, const Operands& o, cudaStream_t s) {
  const ConvGeometry& g = *o.g;
  const i64 N = g.batch, C = g.inChannels, OC = g.outChannels, S = g.inSpatial(), So = g.outSpatial(),
            K = g.kernelVolume();
  Transposed t{buffer(N * S * C, o.dtype, o.device), buffer(OC * K * C, o.dtype, o.device),
               buffer(N * So * OC, o.dtype, o.device)};
  if (op != graph::Op::BackwardData) transpose(o.dtype, o.x, t.x.raw(), N, C, S, 0.0, s);
  if (op != graph::Op::BackwardFilter) transpose(o.dtype, o.w, t.w.raw(), OC, C, K, 0.0, s);
  if (op != graph::Op::Forward) transpose(o.dtype, o.y, t.y.raw(), N, OC, So, 0.0, s);
  return t;
}

// The engine's channels-last output back into the caller's channels-first one, with beta.
void finish(graph::Op op, const Operands& o, const Transposed& t, cudaStream_t s) {
  const ConvGeometry& g = *o.g;
  const i64 N = g.batch, C = g.inChannels, OC = g.outChannels, S = g.inSpatial(), So = g.outSpatial(),
            K = g.kernelVolume();
  switch (op) {
    case graph::Op::Forward: transpose(o.dtype, t.y.raw(), o.y, N, So, OC, o.beta, s); break;
    case graph::Op::BackwardData: transpose(o.dtype, t.x.raw(), o.x, N, S, C, o.beta, s); break;
    case graph::Op::BackwardFilter: transpose(o.dtype, t.w.raw(), o.w, OC, K, C, o.beta, s); break;
  }
}

void runWith(cudnnHandle_t handle, const graph::Plan& plan, graph::Op op, const Operands& o, void* workspace) {
  cudaStream_t s = kaon::cuda::computeStream(o.device.index);
  Transposed t = prepareOperands(op, o, s);
  graph::execute(handle, plan, t.x.raw(), t.w.raw(), t.y.raw(), workspace);
  finish(op, o, t, s);
  ++gExecutions;
}

}  // namespace

graph::Tuned tune(cudnnHandle_t handle, graph::ConvDesc d, const Operands& o, void* workspace,
                  std::size_t workspaceLimit) {
  d.channelsLast = true;
  d.alpha = 1.0;
  d.beta = 0.0;  // beta is applied by the transpose back
  cudaStream_t s = kaon::cuda::computeStream(o.device.index);
  graph::Tuned best;
  {
    Transposed t = prepareOperands(d.op, o, s);
    best = graph::tune(handle, d, t.x.raw(), t.w.raw(), t.y.raw(), workspace, workspaceLimit);
  }
  if (!best.plan) return best;
  // The total the op costs this way: transposes in and out plus the engine, best of two.
  cudaEvent_t start, stop;
  KAON_CUDA_CHECK(cudaEventCreate(&start));
  KAON_CUDA_CHECK(cudaEventCreate(&stop));
  float total = 1e30f;
  for (int rep = 0; rep < 2; ++rep) {
    KAON_CUDA_CHECK(cudaEventRecord(start, s));
    runWith(handle, *best.plan, d.op, o, workspace);
    KAON_CUDA_CHECK(cudaEventRecord(stop, s));
    KAON_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    KAON_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    total = std::min(total, ms);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  gExecutions -= 2;  // tuning runs are not the op's executions
  best.ms = total;
  return best;
}

void run(cudnnHandle_t handle, const graph::Plan& plan, graph::Op op, const Operands& o, std::size_t workspace) {
  Tensor ws = buffer(static_cast<i64>(workspace), DType::UInt8, o.device);
  runWith(handle, plan, op, o, ws.raw());
}

std::int64_t executions() { return gExecutions.load(); }

}  // namespace kaon::ops::cudak::channelslast
