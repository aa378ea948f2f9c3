#pragma once
// Config readers for the option structs of the built-in layers (shared key names:
// activation, alpha, use_bias, kernel_init, bias_init, kernel, stride, dilation, padding).
#include "kaon/config/config_node.hpp"
#include "kaon/nn/layers/batch_norm.hpp"
#include "kaon/nn/layers/conv.hpp"
#include "kaon/nn/layers/conv_transpose.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/pool.hpp"

namespace kaon::nn {

DenseOptions readDenseOptions(config::ConfigNode& n);
ConvOptions readConvOptions(config::ConfigNode& n, int spatialRank);
PoolOptions readPoolOptions(config::ConfigNode& n, int spatialRank, ops::PoolKind kind);
// Conv keys plus `output_padding` (per axis; not with padding: same).
ConvTransposeOptions readConvTransposeOptions(config::ConfigNode& n, int spatialRank);
// momentum (0.99), epsilon (1e-3), center (true), scale (true).
BatchNormOptions readBatchNormOptions(config::ConfigNode& n);
// `size`: upsampling factors, one integer or one per axis (default 2).
std::vector<int> readUpsampleFactors(config::ConfigNode& n, int spatialRank);
// `padding` of zero_pad layers: one integer, one per axis, or [[before, after], ...] (default 1);
// "same"/"valid" are rejected. Returns per-axis before and after.
std::pair<std::vector<int>, std::vector<int>> readZeroPadding(config::ConfigNode& n, int spatialRank);

// `padding`: "valid", "same", one integer, one per axis, or [[before, after], ...] per axis.
struct PaddingSpec {
  bool same = false;
  std::vector<int> begin, end;
};
PaddingSpec readPadding(config::ConfigNode& n, int spatialRank);
// Activation name (+ alpha) from `activation:`; "linear"/absent means none.
std::pair<ops::Activation, double> readActivation(config::ConfigNode& n);

}  // namespace kaon::nn
