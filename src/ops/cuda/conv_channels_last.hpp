#pragma once
// Convolutions run channels-last inside a channels-first op: the operands are transposed to
// [N, *S, C] (weights to [OC, *K, C]), a cuDNN graph engine built for that layout runs, and the
// result is transposed back, accumulated with beta. cuDNN's tensor-core kernels read
// channels-last data; on channels-first data it transposes internally or picks slower kernels
// (PyTorch's fast bf16 variant of the 3DGAN is channels_last_3d). A transpose is one read and
// one write of a tensor, small against the convolutions it may speed up; cuda_conv.cpp times
// the whole sequence against the channels-first engines per geometry and keeps the faster.
#include <cuda_runtime.h>

#include "cudnn_graph_conv.hpp"
#include "kaon/core/tensor.hpp"
#include "kaon/ops/conv_params.hpp"

namespace kaon::ops::cudak::channelslast {

// The operands of one convolution op in Kaon's channels-first layout, for geometry `g` as cuDNN
// sees it (explicit padding already applied). Inputs are read; the op's output (y for forward,
// x for backward data, w for backward filter) is written as beta*output + result.
struct Operands {
  const ConvGeometry* g = nullptr;
  DType dtype = DType::Float32;
  Device device;
  void* x = nullptr;
  void* w = nullptr;
  void* y = nullptr;
  double beta = 0;
};

// Finds the fastest channels-last engine for `d` (its channelsLast flag and beta are set here)
// on the real inputs and times the whole transposed sequence; `ms` of the result is that total.
// The output operand is overwritten. No plan when no engine serves the layout.
graph::Tuned tune(cudnnHandle_t handle, graph::ConvDesc d, const Operands& o, void* workspace,
                  std::size_t workspaceLimit);

// Runs a plan from tune() on channels-first operands.
void run(cudnnHandle_t handle, const graph::Plan& plan, graph::Op op, const Operands& o, std::size_t workspace);

// Channels-last runs so far in this process (tests check that the path really ran).
std::int64_t executions();

}  // namespace kaon::ops::cudak::channelslast
