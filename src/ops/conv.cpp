#include "kaon/ops/conv.hpp"

#include "check.hpp"
#include "kaon/ops/activation.hpp"
#include "kernel_table.hpp"

namespace kaon::ops {

Tensor conv(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvParams& p) {
  detail::checkCompatible("conv", {&x, &w, &bias});
  ConvGeometry g = convGeometry(x.shape(), w.shape(), p);
  Tensor y = Tensor::empty(g.outputShape(), x.dtype(), x.device());
  require(&KernelTable::convForward, "conv", x.device())(x, w, y, g);
  if (bias.defined()) biasAdd(y, bias);
  return y;
}

Tensor conv(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvParams& p, Activation act, double alpha) {
  detail::checkCompatible("conv", {&x, &w, &bias});
  ConvGeometry g = convGeometry(x.shape(), w.shape(), p);
  if (bias.defined())
    KAON_CHECK(bias.rank() == 1 && bias.dim(0) == g.outChannels, "conv: bias {} does not fit {} filters",
               bias.shape().str(), g.outChannels);
  auto fused = kernelTable(backendFor(x.device())).convForwardFused;
  if (!fused) {
    Tensor z = conv(x, w, bias, p);
    return act == Activation::Identity ? z : activation(act, z, alpha);
  }
  Tensor y = Tensor::empty(g.outputShape(), x.dtype(), x.device());
  fused(x, w, bias, y, g, act, alpha);
  return y;
}

Tensor convBackwardData(const Tensor& dy, const Tensor& w, const Shape& xShape, const ConvParams& p) {
  detail::checkCompatible("conv backward", {&dy, &w});
  ConvGeometry g = convGeometry(xShape, w.shape(), p);
  detail::checkShape("conv backward", "dy", dy, g.outputShape());
  Tensor dx = Tensor::empty(xShape, dy.dtype(), dy.device());
  require(&KernelTable::convBackwardData, "conv backward data", dy.device())(dy, w, dx, 0.0, g);
  return dx;
}

void convBackwardParams(const Tensor& x, const Tensor& dy, const Tensor& dw, const Tensor& db, double beta,
                        const ConvParams& p) {
  detail::checkCompatible("conv backward", {&x, &dy, &dw, &db});
  ConvGeometry g = convGeometry(x.shape(), dw.shape(), p);
  detail::checkShape("conv backward", "dy", dy, g.outputShape());
  require(&KernelTable::convBackwardFilter, "conv backward filter", x.device())(x, dy, dw, beta, g);
  if (db.defined()) biasBackward(dy, db, beta);
}

Tensor convTranspose(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvParams& p,
                     const std::vector<int>& outputPadding) {
  detail::checkCompatible("conv_transpose", {&x, &w, &bias});
  ConvGeometry g = convTransposeGeometry(x.shape(), w.shape(), p, outputPadding);
  Tensor y = Tensor::empty(g.inputShape(), x.dtype(), x.device());
  require(&KernelTable::convBackwardData, "conv_transpose", x.device())(x, w, y, 0.0, g);
  if (bias.defined()) biasAdd(y, bias);
  return y;
}

Tensor convTransposeBackwardData(const Tensor& dy, const Tensor& w, const ConvParams& p) {
  // The adjoint of the adjoint is the forward convolution.
  detail::checkCompatible("conv_transpose backward", {&dy, &w});
  ConvGeometry g = convGeometry(dy.shape(), w.shape(), p);
  Tensor dx = Tensor::empty(g.outputShape(), dy.dtype(), dy.device());
  require(&KernelTable::convForward, "conv_transpose backward data", dy.device())(dy, w, dx, g);
  return dx;
}

void convTransposeBackwardParams(const Tensor& x, const Tensor& dy, const Tensor& dw, const Tensor& db,
                                 double beta, const ConvParams& p) {
  detail::checkCompatible("conv_transpose backward", {&x, &dy, &dw, &db});
  // For y = conv^T(x, w) the weight gradient is the filter gradient of the forward conv that maps
  // y's shape to x's shape, with dy in the role of that conv's input and x of its output.
  ConvGeometry g = convGeometry(dy.shape(), dw.shape(), p);
  detail::checkShape("conv_transpose backward", "x", x, g.outputShape());
  require(&KernelTable::convBackwardFilter, "conv_transpose backward filter", x.device())(dy, x, dw, beta, g);
  if (db.defined()) biasBackward(dy, db, beta);
}

void biasAdd(const Tensor& y, const Tensor& bias) {
  detail::checkCompatible("bias", {&y, &bias});
  KAON_CHECK(y.rank() >= 2 && bias.rank() == 1 && bias.dim(0) == y.dim(1), "bias {} does not fit output {}",
             bias.shape().str(), y.shape().str());
  require(&KernelTable::biasAdd, "bias", y.device())(y, bias);
}

void biasBackward(const Tensor& dy, const Tensor& db, double beta) {
  detail::checkCompatible("bias backward", {&dy, &db});
  KAON_CHECK(dy.rank() >= 2 && db.rank() == 1 && db.dim(0) == dy.dim(1), "bias gradient {} does not fit {}",
             db.shape().str(), dy.shape().str());
  require(&KernelTable::biasBackward, "bias backward", dy.device())(dy, db, beta);
}

}  // namespace kaon::ops
