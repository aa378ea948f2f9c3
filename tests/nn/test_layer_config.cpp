// The new layer types through the registry: a model built from YAML text (every new type and
// its keys), the resulting shapes and parameter counts, and config errors naming the key.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "../support/test_util.hpp"
#include "kaon/config/config_node.hpp"
#include "kaon/nn/model_config.hpp"

namespace kaon::nn {
namespace {

Model modelFromYaml(const std::string& text) {
  config::ConfigNode node(YAML::Load(text), "model");
  return modelFromConfig(node);
}

// A small graph using every new layer type: a 2-D super-resolution style branch with a residual
// slice of the input, a 1-D and a 3-D branch.
const char* kModel = R"(
inputs:
  - {name: image, shape: [2, 6, 6]}
  - {name: line, shape: [3, 5]}
  - {name: vol, shape: [2, 2, 3, 3]}
layers:
  - {type: zero_pad2d, name: pad, padding: [[1, 0], [0, 2]], inputs: [image]}
  - {type: conv2d, name: conv, filters: 4, kernel: 2, padding: valid}
  - {type: batch_norm, name: bn, momentum: 0.9, epsilon: 0.001, center: false}
  - {type: dropout, name: drop, rate: 0.25}
  - {type: conv2d_transpose, name: up, filters: 3, kernel: 3, stride: 2, padding: same, activation: relu}
  - {type: slice, name: first, axis: 1, begin: 0, end: 1, inputs: [image]}
  - {type: upsample2d, name: first_up, size: 2}
  - {type: zero_pad2d, name: first_pad, padding: [0, 1]}
  - {type: concat, name: merge, inputs: [up, first_pad]}
  - {type: conv1d_transpose, name: t1, filters: 2, kernel: 3, stride: 2, padding: 1, output_padding: 1, inputs: [line]}
  - {type: upsample1d, name: u1, size: 3}
  - {type: zero_pad1d, name: p1, padding: 2}
  - {type: conv3d_transpose, name: t3, filters: 1, kernel: [1, 2, 2], stride: [1, 2, 2], inputs: [vol]}
  - {type: upsample3d, name: u3, size: [2, 1, 1]}
  - {type: zero_pad3d, name: p3, padding: [[0, 1], [0, 0], [1, 1]]}
outputs: [merge, p1, p3]
)";

TEST(LayerConfig, BuildsEveryNewLayerTypeFromYaml) {
  Model m = modelFromYaml(kModel);
  m.build(DType::Float32, 1);
  // pad [2, 7, 8] -> conv k2 valid [4, 6, 7] -> up (same, stride 2) [3, 12, 14];
  // first [1, 6, 6] -> first_up [1, 12, 12] -> first_pad [1, 12, 14]; merge on channels.
  EXPECT_EQ(m.outputShapes(), (std::vector<Shape>{Shape{4, 12, 14}, Shape{2, 34}, Shape{1, 5, 6, 8}}));
  // t1: (5 - 1) * 2 - 2 + 3 + 1 = 10, x3 = 30, + 2 + 2. t3: [1, 2, 6, 6] -> [1, 4, 6, 6] -> [1, 5, 6, 8].
  // Parameters: conv 4*2*2*2 + 4, bn gamma 4 (center: false), up 4*3*3*3 + 3, t1 3*2*3 + 2, t3 2*1*1*2*2 + 1.
  EXPECT_EQ(m.parameterCount(), 36 + 4 + 111 + 20 + 9);
  EXPECT_EQ(m.buffers().numel(), 8);  // bn running mean and variance
  std::string summary = m.summary();
  for (const char* type : {"(zero_pad2d)", "(batch_norm)", "(dropout)", "(conv2d_transpose)", "(slice)",
                           "(upsample2d)", "(concat)", "(conv1d_transpose)", "(upsample1d)", "(zero_pad1d)",
                           "(conv3d_transpose)", "(upsample3d)", "(zero_pad3d)"})
    EXPECT_NE(summary.find(type), std::string::npos) << type;
  // One training step runs end to end and reaches every parameter.
  std::vector<Tensor> in{testing::randomTensor(Shape{3, 2, 6, 6}, 1), testing::randomTensor(Shape{3, 3, 5}, 2),
                         testing::randomTensor(Shape{3, 2, 2, 3, 3}, 3)};
  auto ys = m.forwardMulti(in, true);
  m.zeroGrad();
  m.backwardMulti({testing::randomTensor(ys[0].shape(), 4), testing::randomTensor(ys[1].shape(), 5),
                   testing::randomTensor(ys[2].shape(), 6)});
  for (const auto& p : m.namedParameters()) {
    double s = 0;
    for (float g : p.parameter->grad.span<float>()) s += std::abs(g);
    EXPECT_GT(s, 0.0) << p.name;
  }
}

TEST(LayerConfig, BatchNormKeysReachTheLayer) {
  auto paramNames = [](const std::string& layer) {
    Model m = modelFromYaml("input_shape: [3, 4]\nlayers:\n  - " + layer + "\n");
    m.build(DType::Float64, 1);
    std::vector<std::string> names;
    for (const auto& p : m.namedParameters()) names.push_back(p.name);
    return names;
  };
  EXPECT_EQ(paramNames("{type: batch_norm, name: bn}"), (std::vector<std::string>{"bn.gamma", "bn.beta"}));
  EXPECT_EQ(paramNames("{type: batch_norm, name: bn, scale: false}"), (std::vector<std::string>{"bn.beta"}));
  EXPECT_EQ(paramNames("{type: batch_norm, name: bn, center: false}"), (std::vector<std::string>{"bn.gamma"}));
  // momentum 0.5 moves the running mean halfway to the batch mean in one step.
  Model m = modelFromYaml("input_shape: [1]\nlayers:\n  - {type: batch_norm, name: bn, momentum: 0.5}\n");
  m.build(DType::Float64, 1);
  m.forward(Tensor::fromVector<double>(Shape{2, 1}, {1.0, 3.0}), true);
  EXPECT_DOUBLE_EQ(m.buffers().item(0), 1.0);
}

TEST(LayerConfig, UnknownAndInvalidKeysAreErrors) {
  auto expectConfigError = [](const std::string& layer, const std::string& fragment) {
    std::string text = "input_shape: [2, 6, 6]\nlayers:\n  - " + layer + "\n";
    try {
      modelFromYaml(text);
      ADD_FAILURE() << "no error for " << layer;
    } catch (const config::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expectConfigError("{type: batch_norm, momentun: 0.9}", "did you mean 'momentum'");
  expectConfigError("{type: dropout, rate: 0.5, seed: 3}", "unknown key");
  expectConfigError("{type: dropout}", "rate: missing required key");
  expectConfigError("{type: upsample2d, size: [2, 2, 2]}", "size: needs 1 or 2 values");
  expectConfigError("{type: zero_pad2d, padding: same}", "zero padding takes sizes");
  expectConfigError("{type: conv2d_transpose, filters: 2, kernel: 3, padding: same, output_padding: 1}",
                    "output_padding");
  expectConfigError("{type: conv2d_transpose, filters: 2, kernel: 3, out_padding: 1}", "did you mean 'output_padding'");
  expectConfigError("{type: slice, axis: 1, begin: 0, stop: 1}", "unknown key");
  expectConfigError("{type: batch_norm, epsilon: 0}", "epsilon: must be > 0");
}

}  // namespace
}  // namespace kaon::nn
