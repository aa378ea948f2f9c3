#pragma once
// Convolution / pooling geometry shared by 1-D, 2-D and 3-D ops (NC[D]HW layout).
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "kaon/core/shape.hpp"

namespace kaon::ops {

// Per spatial axis settings, as given by a user; empty vectors mean the defaults
// (stride 1, dilation 1, padding 0). A single value applies to every spatial axis.
struct ConvParams {
  std::vector<int> stride;
  std::vector<int> dilation;
  std::vector<int> padBegin;
  std::vector<int> padEnd;
};

// TensorFlow-style "same" padding (output = ceil(input / stride)); for an even kernel the
// extra row goes at the end, as Keras does.
ConvParams samePadding(std::span<const std::int64_t> inputSpatial, std::span<const std::int64_t> kernel,
                       std::vector<int> stride, std::vector<int> dilation = {});

// Resolved geometry. Every op works on three spatial axes: a 2-D op has depth 1, a 1-D op
// depth and height 1, so one kernel serves all ranks.
struct ConvGeometry {
  int spatialRank = 0;                    // 1, 2 or 3 as seen by the user
  std::int64_t batch = 0, inChannels = 0, outChannels = 0;
  std::array<std::int64_t, 3> in{1, 1, 1}, out{1, 1, 1}, kernel{1, 1, 1};
  std::array<int, 3> stride{1, 1, 1}, dilation{1, 1, 1}, padBegin{0, 0, 0}, padEnd{0, 0, 0};

  std::int64_t inSpatial() const { return in[0] * in[1] * in[2]; }
  std::int64_t outSpatial() const { return out[0] * out[1] * out[2]; }
  std::int64_t kernelVolume() const { return kernel[0] * kernel[1] * kernel[2]; }
  Shape inputShape() const;   // [N, C, *in]
  Shape outputShape() const;  // [N, OC, *out]
  std::string str() const;
};

// For a convolution: x [N, C, *S], weight [OC, C, *K].
ConvGeometry convGeometry(const Shape& x, const Shape& weight, const ConvParams& p);
// For a transposed convolution (the adjoint of convGeometry): x [N, C, *S], weight [C, OC, *K];
// the returned geometry describes the forward convolution from the output back to x.
ConvGeometry convTransposeGeometry(const Shape& x, const Shape& weight, const ConvParams& p,
                                   const std::vector<int>& outputPadding);
// For pooling: window sizes per spatial axis, stride defaults to the window.
ConvGeometry poolGeometry(const Shape& x, const std::vector<int>& window, const ConvParams& p);

}  // namespace kaon::ops
