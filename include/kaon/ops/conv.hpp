#pragma once
// Convolutions over 1, 2 or 3 spatial axes, NC[D]HW layout, PyTorch weight layouts.
#include "kaon/core/tensor.hpp"
#include "kaon/ops/conv_params.hpp"
#include "kaon/ops/kinds.hpp"

namespace kaon::ops {

// y [N, OC, *O] = conv(x [N, C, *S], w [OC, C, *K]) + bias [OC] (bias may be undefined).
Tensor conv(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvParams& p);
// y = act(conv(x, w) + bias), alpha as in ops::activation. Backends with a fused kernel (CPU
// float32) apply bias and activation in the GEMM's store: one pass over y instead of three,
// and no pre-activation tensor. Others run conv, biasAdd and activation.
Tensor conv(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvParams& p, Activation act,
            double alpha = 0.0);
// dx for the convolution above.
Tensor convBackwardData(const Tensor& dy, const Tensor& w, const Shape& xShape, const ConvParams& p);
// dw = beta*dw + dL/dw; db (may be undefined) = beta*db + dL/db.
void convBackwardParams(const Tensor& x, const Tensor& dy, const Tensor& dw, const Tensor& db, double beta,
                        const ConvParams& p);

// Transposed convolution (the adjoint of conv): x [N, C, *S], w [C, OC, *K] -> [N, OC, *O]
// with O = (S-1)*stride - padBegin - padEnd + dilation*(K-1) + 1 + outputPadding.
Tensor convTranspose(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvParams& p,
                     const std::vector<int>& outputPadding = {});
Tensor convTransposeBackwardData(const Tensor& dy, const Tensor& w, const ConvParams& p);
void convTransposeBackwardParams(const Tensor& x, const Tensor& dy, const Tensor& dw, const Tensor& db,
                                 double beta, const ConvParams& p);

// y[n, c, ...] += bias[c] in place; db = beta*db + sum of dy over all axes but 1.
void biasAdd(const Tensor& y, const Tensor& bias);
void biasBackward(const Tensor& dy, const Tensor& db, double beta);

}  // namespace kaon::ops
