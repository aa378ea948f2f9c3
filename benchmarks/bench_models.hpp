#pragma once
// The reference models of the training-step benchmarks, shared by kaon-bench-models (CPU) and
// kaon-bench-gpu-models (CUDA), built with the Model API exactly as a user would.
//
//   jet   : input 3x64x64; 3x[conv 3x3 128 same + ReLU + maxpool 2] -> flatten -> dense 512 ReLU
//           -> dense 2; softmax cross-entropy.
//   srcnn : input 2x64x64; conv 9x9 64 same -> ReLU -> conv 3x3 32 same -> ReLU -> conv 5x5 1
//           same, plus input channel 0 (slice + add layers, as configs/srcnn_weather.yaml); MSE.
//
// FLOPs per step count conv and dense multiply-adds (2 FLOP each) of forward, backward-filter
// and backward-data (none for the first layer, whose input needs no gradient); the PyTorch
// twins (scripts/bench_pytorch_cpu.py, benchmarks/gpu/bench_torch_models.py) count the same way.
#include <string>
#include <vector>

#include "kaon/nn/model.hpp"
#include "kaon/ops/kinds.hpp"

namespace kaon::bench {

struct ModelBench {
  nn::Model model;
  Tensor x, y;  // one batch on the CPU: input and target
  ops::LossKind loss = ops::LossKind::SoftmaxCrossEntropy;
  double flops = 0;  // per training step
  std::string note;
};

// Built in float32 on `device` (parameters initialised from seed 1).
ModelBench jetModel(std::int64_t batch, Device device = Device::cpu());
ModelBench srcnnModel(std::int64_t batch, bool residual, Device device = Device::cpu());

// Timing helpers of the step benchmarks: the process's CPU time so far (all threads, ms) and the
// median of timed steps.
double processCpuMs();
double median(std::vector<double> v);

}  // namespace kaon::bench
