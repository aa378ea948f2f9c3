#pragma once
// Builds a Model from the `model:` section of a config:
//
//   model:
//     inputs: [{name: image, shape: [3, 64, 64]}]   # or: input_shape: [3, 64, 64]
//     layers:
//       - {type: conv2d, name: conv1, filters: 128, kernel: 3, padding: same, activation: relu}
//       - {type: max_pool2d, pool: 2}
//       - {type: flatten}
//       - {type: dense, units: 2, name: logits, inputs: [flatten_2]}
//     outputs: [logits]                              # default: the last layer
//
// Each layer may give `name` (default: type_index), `inputs` (default: the previous node)
// and `frozen`. The model is returned unbuilt.
#include "kaon/config/config_node.hpp"
#include "kaon/nn/model.hpp"

namespace kaon::nn {

Model modelFromConfig(config::ConfigNode& node);

}  // namespace kaon::nn
