#pragma once
// Training precision (`trainer.precision`) and the process-wide TF32 switch of the CUDA backend.
//
//   fp32  strict float32: cuBLAS/cuDNN without TF32 (the CPU's results up to summation order)
//   tf32  float32 storage, GEMM and convolutions on TF32 tensor cores (10-bit mantissa inputs)
//   bf16  mixed precision: fp32 master weights and optimizer state, bf16 compute copies of the
//         weights, bf16 activations and gradients, fp32 accumulation, losses in fp32
//   fp16  as bf16 with float16 and dynamic loss scaling (kaon/train/loss_scaler.hpp)
#include <string_view>

#include "kaon/core/dtype.hpp"

namespace kaon {

enum class Precision : std::uint8_t { Fp32, Tf32, Bf16, Fp16 };

std::string_view precisionName(Precision p);
// "fp32" | "tf32" | "bf16" | "fp16"; throws kaon::Error naming the allowed values otherwise.
Precision precisionFromName(std::string_view name);
// Storage type of activations and compute weights: Float32 for fp32/tf32.
DType computeDType(Precision p);
inline bool isMixedPrecision(Precision p) { return p == Precision::Bf16 || p == Precision::Fp16; }

// Whether float32 GEMMs and convolutions on GPUs may use TF32 tensor cores. Off by default
// (strict fp32, like the CPU backend); the Trainer sets it from trainer.precision. Process-wide,
// like torch.backends.cuda.matmul.allow_tf32: cuDNN algorithm choices are cached per setting.
void setTf32Allowed(bool allowed);
bool tf32Allowed();

}  // namespace kaon
