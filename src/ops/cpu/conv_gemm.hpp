#pragma once
// Float32 convolutions as implicit-im2col GEMMs on Kaon's AVX2 sgemm (sgemm.hpp): the column
// matrix col(X_n) [CK, P] (CK = C*KD*KH*KW, P = OD*OH*OW) is never written out; the GEMM's
// B-panel packer reads the input directly.
//
//   forward          Y_n [OC, P]  = W [OC, CK] * col(X_n) [CK, P]
//   backward data    stride 1:   dX_n = conv(dY_n, W flipped, [C, OC, K]) with "full" padding,
//                                    the same implicit GEMM (no col2im scatter, no dcol buffer)
//                    otherwise:  dcol = W^T * dY_n, then col2im (scatter-add)
//   backward filter  dW [OC, CK] (+)= dY_n [OC, P] * col(X_n)^T [P, CK], summed per fixed group
//                    of samples, groups combined in order (thread-count independent)
// Layers with at most 4 output channels (stride 1, dilation 1) use the direct kernels of
// conv_direct.hpp for forward and backward filter instead.
//
// The weights (the GEMMs' A) are packed once per call and shared by all samples and threads.
// Forward takes an optional epilogue: y = act(conv + bias[oc]) applied in the GEMM's store.
//
// Each returns false when it cannot run (no AVX2 kernel compiled in), and the caller falls
// back to the Eigen im2col path.
#include "kaon/core/tensor.hpp"
#include "kaon/ops/conv_params.hpp"
#include "sgemm.hpp"

namespace kaon::ops::cpu {

bool convForwardF32(const Tensor& x, const Tensor& w, const Tensor& y, const ConvGeometry& g,
                    const GemmEpilogue* epilogue = nullptr);
bool convBackwardDataF32(const Tensor& dy, const Tensor& w, const Tensor& dx, double beta, const ConvGeometry& g);
bool convBackwardFilterF32(const Tensor& x, const Tensor& dy, const Tensor& dw, double beta, const ConvGeometry& g);

}  // namespace kaon::ops::cpu
