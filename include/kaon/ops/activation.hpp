#pragma once
// Element-wise activations and softmax.
#include "kaon/core/tensor.hpp"
#include "kaon/ops/kinds.hpp"

namespace kaon::ops {

// alpha: the negative slope of LeakyRelu, the scale of Elu; ignored by the others.
Tensor activation(Activation kind, const Tensor& x, double alpha = 0.0);
// dx = f'(x) * dy; x and y are the forward input and output.
Tensor activationBackward(Activation kind, const Tensor& x, const Tensor& y, const Tensor& dy, double alpha = 0.0);

// Softmax over axis 1 of [N, C, ...].
Tensor softmax(const Tensor& x);
Tensor softmaxBackward(const Tensor& y, const Tensor& dy);

}  // namespace kaon::ops
