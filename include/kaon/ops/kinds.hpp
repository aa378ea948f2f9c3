#pragma once
// Small enums naming op variants; shared by the public op API and the kernel table.
#include <cstdint>
#include <string_view>

namespace kaon::ops {

enum class Activation : std::uint8_t { Identity, Relu, LeakyRelu, Sigmoid, Tanh, Elu };
enum class PoolKind : std::uint8_t { Max, Average };
enum class LossKind : std::uint8_t { SoftmaxCrossEntropy, BinaryCrossEntropyLogits, MeanSquaredError,
                                     MeanAbsoluteError, MeanAbsolutePercentageError };

Activation activationFromName(std::string_view name);  // "relu", "leaky_relu", ...
// Whether f'(x) can be had from the output alone, i.e. activationBackward(kind, y, y, dy) equals
// activationBackward(kind, x, y, dy) on every backend: f' depends only on the sign of x and f keeps
// the sign (Identity, Relu, LeakyRelu with alpha >= 0). Layers that fuse the activation into
// their op then need not keep the pre-activation tensor.
bool activationGradFromOutput(Activation kind, double alpha);
std::string_view activationName(Activation a);
LossKind lossFromName(std::string_view name);  // "softmax_cross_entropy", "bce_logits", "mse", ...
std::string_view lossName(LossKind k);

}  // namespace kaon::ops
