// upsample, zero_pad, conv*_transpose, concat, slice and sum layers: finite-difference gradients
// (double) of parameters and inputs in a one-layer model, shape inference and rejected settings.
#include <gtest/gtest.h>

#include "../support/test_util.hpp"
#include "kaon/nn/layers/concat.hpp"
#include "kaon/nn/layers/conv_transpose.hpp"
#include "kaon/nn/layers/slice.hpp"
#include "kaon/nn/layers/sum.hpp"
#include "kaon/nn/layers/upsample.hpp"
#include "kaon/nn/layers/zero_pad.hpp"
#include "kaon/nn/model.hpp"
#include "kaon/ops/conv.hpp"

namespace kaon::nn {
namespace {

using testing::maxLayerGradientError;
constexpr double kTol = 1e-7;

TEST(UpsampleAndZeroPad, Gradients) {
  EXPECT_LT(maxLayerGradientError(std::make_unique<Upsample>("u1", 1, std::vector<int>{3}), {Shape{2, 5}}, 2), kTol);
  EXPECT_LT(maxLayerGradientError(std::make_unique<Upsample>("u2", 2, std::vector<int>{2, 3}), {Shape{2, 3, 4}}, 2),
            kTol);
  EXPECT_LT(maxLayerGradientError(std::make_unique<Upsample>("u3", 3, std::vector<int>{1, 2, 2}), {Shape{1, 2, 3, 2}},
                                  2),
            kTol);
  EXPECT_LT(maxLayerGradientError(std::make_unique<ZeroPad>("p1", 1, std::vector<int>{2}, std::vector<int>{0}),
                                  {Shape{2, 5}}, 2),
            kTol);
  EXPECT_LT(maxLayerGradientError(std::make_unique<ZeroPad>("p2", 2, std::vector<int>{1, 0}, std::vector<int>{2, 1}),
                                  {Shape{2, 3, 4}}, 2),
            kTol);
  EXPECT_LT(maxLayerGradientError(
                std::make_unique<ZeroPad>("p3", 3, std::vector<int>{0, 1, 2}, std::vector<int>{1, 0, 1}),
                {Shape{1, 2, 3, 2}}, 2),
            kTol);
}

TEST(UpsampleAndZeroPad, ShapesAndErrors) {
  Upsample up("u", 2, {2, 3});
  EXPECT_EQ(up.build({Shape{4, 5, 6}}), (Shape{4, 10, 18}));
  Upsample up3("u3", 3, {2});
  EXPECT_EQ(up3.build({Shape{1, 2, 3, 4}}), (Shape{1, 4, 6, 8}));
  ZeroPad pad("p", 2, {1, 0}, {2, 3});
  EXPECT_EQ(pad.build({Shape{4, 5, 6}}), (Shape{4, 8, 9}));
  EXPECT_THROW(Upsample("bad", 2, {2, 2, 2}), Error);
  EXPECT_THROW(Upsample("bad", 2, {0}), Error);
  EXPECT_THROW(ZeroPad("bad", 2, {-1}, {0}), Error);
  Upsample wrongRank("w", 2, {2});
  EXPECT_THROW(wrongRank.build({Shape{4, 5}}), Error);  // a 1-D input for upsample2d
}

TEST(SumLayer, GradientsShapesAndErrors) {
  EXPECT_LT(maxLayerGradientError(std::make_unique<Sum>("ecal", std::vector<int>{2, 3, 4}), {Shape{1, 3, 2, 4}}, 2),
            kTol);
  EXPECT_LT(maxLayerGradientError(std::make_unique<Sum>("all", std::vector<int>{}), {Shape{2, 3}}, 3), kTol);
  EXPECT_LT(maxLayerGradientError(std::make_unique<Sum>("mid", std::vector<int>{-2}), {Shape{2, 3, 4}}, 2), kTol);
  Sum ecal("ecal", {4, 2, 3});
  EXPECT_EQ(ecal.build({Shape{1, 25, 25, 25}}), (Shape{1}));  // the 3DGAN ECAL sum, any axis order
  Sum all("all", {});
  EXPECT_EQ(all.build({Shape{2, 5}}), (Shape{1}));
  Sum gap("gap", {1, 3});
  EXPECT_THROW(gap.build({Shape{2, 3, 4}}), Error);
  Sum batch("batch", {0});
  EXPECT_THROW(batch.build({Shape{2, 3}}), Error);
}

ConvTransposeOptions transposeOptions(int rank, std::int64_t filters, std::vector<int> kernel, std::vector<int> stride,
                                      bool same, std::vector<int> pad, std::vector<int> outputPadding,
                                      ops::Activation act = ops::Activation::Identity) {
  ConvTransposeOptions o;
  o.conv = ConvOptions{.spatialRank = rank, .filters = filters, .kernel = std::move(kernel), .stride = std::move(stride),
                       .samePadding = same, .padBegin = pad, .padEnd = pad, .activation = act};
  o.outputPadding = std::move(outputPadding);
  return o;
}

TEST(ConvTransposeLayer, Gradients) {
  // Stride with output padding, explicit padding, an activation.
  auto t1 = transposeOptions(1, 3, {3}, {2}, false, {1}, {1}, ops::Activation::Tanh);
  EXPECT_LT(maxLayerGradientError(std::make_unique<ConvTranspose>("t1", t1), {Shape{2, 5}}, 2), kTol);
  auto t2 = transposeOptions(2, 2, {3, 2}, {2, 3}, false, {}, {1, 2});
  EXPECT_LT(maxLayerGradientError(std::make_unique<ConvTranspose>("t2", t2), {Shape{3, 3, 2}}, 2), kTol);
  auto t2s = transposeOptions(2, 3, {3}, {2}, true, {}, {}, ops::Activation::Sigmoid);
  EXPECT_LT(maxLayerGradientError(std::make_unique<ConvTranspose>("t2s", t2s), {Shape{2, 3, 3}}, 2), kTol);
  auto t3 = transposeOptions(3, 2, {2, 3, 2}, {1, 2, 2}, false, {0, 1, 0}, {0, 1, 1});
  EXPECT_LT(maxLayerGradientError(std::make_unique<ConvTranspose>("t3", t3), {Shape{2, 2, 3, 2}}, 2), kTol);
}

TEST(ConvTransposeLayer, ShapesMatchKerasAndPyTorch) {
  // Keras Conv2DTranspose(8, 3, strides=2): same -> 10x10, valid -> 11x11 from 5x5.
  ConvTranspose same("s", transposeOptions(2, 8, {3}, {2}, true, {}, {}));
  EXPECT_EQ(same.build({Shape{4, 5, 5}}), (Shape{8, 10, 10}));
  EXPECT_EQ(same.parameter("weight").shape, (Shape{4, 8, 3, 3}));  // [C_in, filters, *K]
  ConvTranspose valid("v", transposeOptions(2, 8, {3}, {2}, false, {}, {}));
  EXPECT_EQ(valid.build({Shape{4, 5, 5}}), (Shape{8, 11, 11}));
  // Even kernel, stride larger than the kernel, asymmetric strides: still input * stride.
  ConvTranspose evenSame("e", transposeOptions(2, 1, {4, 1}, {2, 3}, true, {}, {}));
  EXPECT_EQ(evenSame.build({Shape{1, 7, 6}}), (Shape{1, 14, 18}));
  // PyTorch ConvTranspose1d(k=3, s=2, p=1, output_padding=1): L_out = (L-1)*2 - 2 + 3 + 1 = 2L.
  ConvTranspose torch("t", transposeOptions(1, 2, {3}, {2}, false, {1}, {1}));
  EXPECT_EQ(torch.build({Shape{3, 9}}), (Shape{2, 18}));
  EXPECT_THROW(ConvTranspose("bad", transposeOptions(2, 8, {3}, {2}, true, {}, {1})), Error);  // op with same
  ConvTranspose tooMuch("m", transposeOptions(1, 2, {3}, {2}, false, {}, {2}));  // output_padding >= stride
  EXPECT_THROW(tooMuch.build({Shape{3, 9}}), Error);
}

TEST(ConvTransposeLayer, SameOutputIsTheAdjointOfSameConv) {
  // <layer(x), z> == <x, conv(z)> with the layer's weights and "same" padding: the layer is padded
  // like the forward conv from its output back to its input (TF's definition), for an even kernel too.
  auto o = transposeOptions(2, 2, {4, 3}, {2}, true, {}, {});
  o.conv.useBias = false;
  Model m;
  m.addInput("x", Shape{3, 5, 4});
  m.add(std::make_unique<ConvTranspose>("t", o));
  m.build(DType::Float64, 1);
  Tensor x = testing::randomTensor(Shape{1, 3, 5, 4}, 2, DType::Float64);
  Tensor y = m.forward(x, false);
  ASSERT_EQ(y.shape(), (Shape{1, 2, 10, 8}));
  Tensor z = testing::randomTensor(y.shape(), 3, DType::Float64);
  ops::ConvParams same = ops::samePadding(std::vector<std::int64_t>{10, 8}, std::vector<std::int64_t>{4, 3}, {2});
  Tensor cz = ops::conv(z, m.layer("t").parameter("weight").value, Tensor(), same);
  ASSERT_EQ(cz.shape(), x.shape());
  double lhs = 0, rhs = 0;
  for (std::int64_t i = 0; i < y.numel(); ++i) lhs += y.span<double>()[i] * z.span<double>()[i];
  for (std::int64_t i = 0; i < x.numel(); ++i) rhs += x.span<double>()[i] * cz.span<double>()[i];
  EXPECT_NEAR(lhs, rhs, 1e-10 * std::max(1.0, std::abs(rhs)));
}

TEST(ConcatAndSlice, Gradients) {
  EXPECT_LT(maxLayerGradientError(std::make_unique<Concat>("c"), {Shape{2, 3, 4}, Shape{1, 3, 4}, Shape{3, 3, 4}}, 2),
            kTol);
  EXPECT_LT(maxLayerGradientError(std::make_unique<Concat>("c", -1), {Shape{2, 3}, Shape{2, 5}}, 3), kTol);
  EXPECT_LT(maxLayerGradientError(std::make_unique<Slice>("s", 1, 0, 1), {Shape{3, 4, 2}}, 2), kTol);
  EXPECT_LT(maxLayerGradientError(std::make_unique<Slice>("s", -1, 1, -1), {Shape{3, 5}}, 2), kTol);
}

TEST(ConcatAndSlice, ShapesAxesAndErrors) {
  Concat channels("c");
  EXPECT_EQ(channels.build({Shape{2, 5, 5}, Shape{3, 5, 5}}), (Shape{5, 5, 5}));
  Concat last("l", -1);
  EXPECT_EQ(last.build({Shape{2, 5, 1}, Shape{2, 5, 4}}), (Shape{2, 5, 5}));
  Concat batch("b", 0);
  EXPECT_THROW(batch.build({Shape{2}, Shape{2}}), Error);  // axis 0 is the batch
  Concat outOfRange("o", 3);
  EXPECT_THROW(outOfRange.build({Shape{2, 3}, Shape{2, 3}}), Error);
  Concat mismatch("m");
  EXPECT_THROW(mismatch.build({Shape{2, 5, 5}, Shape{3, 5, 4}}), Error);
  Slice first("f", 1, 0, 1);  // channel 0 of an image: the residual path of a super-resolution net
  EXPECT_EQ(first.build({Shape{3, 8, 8}}), (Shape{1, 8, 8}));
  Slice tail("t", 2, -3);  // the last three rows
  EXPECT_EQ(tail.build({Shape{3, 8, 8}}), (Shape{3, 3, 8}));
  Slice empty("e", 1, 2, 2);
  EXPECT_THROW(empty.build({Shape{3, 8}}), Error);
  Slice past("p", 1, 0, 4);
  EXPECT_THROW(past.build({Shape{3, 8}}), Error);
  Slice batchSlice("b", -3, 0, 1);
  EXPECT_THROW(batchSlice.build({Shape{3, 8}}), Error);  // -3 of [N, 3, 8] is the batch axis
}

}  // namespace
}  // namespace kaon::nn
