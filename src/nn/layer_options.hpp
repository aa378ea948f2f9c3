#pragma once
// Config readers for the option structs of the built-in layers (shared key names:
// activation, alpha, use_bias, kernel_init, bias_init, kernel, stride, dilation, padding).
#include "kaon/config/config_node.hpp"
#include "kaon/nn/layers/conv.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/pool.hpp"

namespace kaon::nn {

DenseOptions readDenseOptions(config::ConfigNode& n);
ConvOptions readConvOptions(config::ConfigNode& n, int spatialRank);
PoolOptions readPoolOptions(config::ConfigNode& n, int spatialRank, ops::PoolKind kind);

// `padding`: "valid", "same", one integer, one per axis, or [[before, after], ...] per axis.
struct PaddingSpec {
  bool same = false;
  std::vector<int> begin, end;
};
PaddingSpec readPadding(config::ConfigNode& n, int spatialRank);
// Activation name (+ alpha) from `activation:`; "linear"/absent means none.
std::pair<ops::Activation, double> readActivation(config::ConfigNode& n);

}  // namespace kaon::nn
