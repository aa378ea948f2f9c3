// Every layer: finite-difference gradient check (double) of parameters and inputs, and
// output-shape inference.
#include <gtest/gtest.h>

#include "../support/test_util.hpp"
#include "kaon/nn/layers/activation.hpp"
#include "kaon/nn/layers/add.hpp"
#include "kaon/nn/layers/conv.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/pool.hpp"
#include "kaon/nn/layers/reshape.hpp"

namespace kaon::nn {
namespace {

using testing::maxLayerGradientError;
constexpr double kTol = 1e-7;

TEST(LayerGradients, DenseWithActivation) {
  DenseOptions o{.units = 5, .activation = ops::Activation::Tanh};
  EXPECT_LT(maxLayerGradientError(std::make_unique<Dense>("d", o), {Shape{7}}, 3), kTol);
}

TEST(LayerGradients, Conv1d2d3d) {
  ConvOptions c1{.spatialRank = 1, .filters = 3, .kernel = {3}, .stride = {2}, .padBegin = {1}, .padEnd = {0}, .activation = ops::Activation::Sigmoid};
  EXPECT_LT(maxLayerGradientError(std::make_unique<Conv>("c1", c1), {Shape{2, 9}}, 2), kTol);
  ConvOptions c2{.filters = 4, .kernel = {3, 2}, .samePadding = true};
  EXPECT_LT(maxLayerGradientError(std::make_unique<Conv>("c2", c2), {Shape{3, 6, 5}}, 2), kTol);
  ConvOptions c3{.spatialRank = 3, .filters = 2, .kernel = {3, 2, 4}, .stride = {1, 2, 1}, .samePadding = true, .activation = ops::Activation::Tanh};
  EXPECT_LT(maxLayerGradientError(std::make_unique<Conv>("c3", c3), {Shape{2, 4, 5, 6}}, 2), kTol);
  // Fused forward (bias + activation in the conv op; backward from the output alone).
  ConvOptions c4{.filters = 5, .kernel = {3}, .samePadding = true, .activation = ops::Activation::Relu};
  EXPECT_LT(maxLayerGradientError(std::make_unique<Conv>("c4", c4), {Shape{3, 6, 7}}, 2), kTol);
  ConvOptions c5{.filters = 3, .kernel = {2}, .activation = ops::Activation::LeakyRelu, .activationAlpha = 0.2};
  EXPECT_LT(maxLayerGradientError(std::make_unique<Conv>("c5", c5), {Shape{2, 5, 4}}, 2), kTol);
}

TEST(LayerGradients, PoolingAndActivations) {
  PoolOptions mp{.window = {2}};
  EXPECT_LT(maxLayerGradientError(std::make_unique<Pool>("mp", mp), {Shape{2, 6, 6}}, 2), kTol);
  PoolOptions ap{.spatialRank = 3, .kind = ops::PoolKind::Average, .window = {2, 3, 2}, .stride = {1, 2, 2}, .samePadding = true, .includePad = true};
  EXPECT_LT(maxLayerGradientError(std::make_unique<Pool>("ap", ap), {Shape{2, 5, 7, 4}}, 2), kTol);
  EXPECT_LT(maxLayerGradientError(std::make_unique<ActivationLayer>("s", ops::Activation::Identity, 0, true),
                                  {Shape{6}}, 3),
            kTol);
  EXPECT_LT(maxLayerGradientError(std::make_unique<ActivationLayer>("e", ops::Activation::Elu, 0.7), {Shape{4, 3}}, 2),
            kTol);
}

TEST(LayerGradients, ReshapeAndAdd) {
  EXPECT_LT(maxLayerGradientError(std::make_unique<Reshape>("f", std::vector<std::int64_t>{}), {Shape{2, 3, 4}}, 2),
            kTol);
  EXPECT_LT(maxLayerGradientError(std::make_unique<Reshape>("r", std::vector<std::int64_t>{4, -1}), {Shape{2, 6}}, 2),
            kTol);
  EXPECT_LT(maxLayerGradientError(std::make_unique<Add>("a"), {Shape{3, 4}, Shape{3, 4}, Shape{3, 4}}, 2), kTol);
}

TEST(LayerShapes, InferenceAndErrors) {
  Conv conv("c", ConvOptions{.filters = 8, .kernel = {5}, .stride = {2}, .samePadding = true});
  EXPECT_EQ(conv.build({Shape{3, 25, 25}}), (Shape{8, 13, 13}));
  Pool pool("p", PoolOptions{.spatialRank = 3, .window = {2}});
  EXPECT_EQ(pool.build({Shape{4, 8, 6, 7}}), (Shape{4, 4, 3, 3}));
  Dense dense("d", DenseOptions{3});
  EXPECT_THROW(dense.build({Shape{3, 4}}), Error);  // needs a flatten first
  Reshape reshape("r", {5, -1});
  EXPECT_THROW(reshape.build({Shape{7}}), Error);
  Add add("a");
  EXPECT_THROW(add.build({Shape{3}, Shape{4}}), Error);
}

}  // namespace
}  // namespace kaon::nn
