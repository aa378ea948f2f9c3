#include "layer_options.hpp"

namespace kaon::nn {
namespace {

const std::vector<std::string> kActivations{"linear", "relu", "leaky_relu", "sigmoid", "tanh", "elu"};
const std::vector<std::string> kInits{"zeros", "ones", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal"};

Init readInit(config::ConfigNode& n, const std::string& key, Init fallback) {
  return initFromName(n.getChoice(key, kInits, std::string(initName(fallback))));
}

std::vector<int> readPerAxis(config::ConfigNode& n, const std::string& key, int rank, std::vector<int> fallback,
                             int minimum) {
  auto v = n.getOr<std::vector<int>>(key, std::move(fallback));
  if (!v.empty() && v.size() != 1 && static_cast<int>(v.size()) != rank)
    n.failKey(key, "needs 1 or " + std::to_string(rank) + " values, got " + std::to_string(v.size()));
  for (int x : v)
    if (x < minimum) n.failKey(key, "values must be >= " + std::to_string(minimum));
  return v;
}

}  // namespace

std::pair<ops::Activation, double> readActivation(config::ConfigNode& n) {
  ops::Activation a = ops::activationFromName(n.getChoice("activation", kActivations, std::string("linear")));
  double alpha = n.getOr<double>("alpha", a == ops::Activation::LeakyRelu ? 0.3 : 1.0);
  return {a, alpha};
}

PaddingSpec readPadding(config::ConfigNode& n, int rank) {
  PaddingSpec p;
  if (!n.has("padding")) {
    n.markUsed("padding");
    return p;
  }
  const YAML::Node& y = n.yaml()["padding"];
  if (y.IsScalar() && (y.Scalar() == "same" || y.Scalar() == "valid")) {
    n.markUsed("padding");
    p.same = y.Scalar() == "same";
    return p;
  }
  if (y.IsSequence() && y.size() > 0 && y[0].IsSequence()) {  // [[before, after], ...]
    n.markUsed("padding");
    if (static_cast<int>(y.size()) != rank) n.failKey("padding", "needs one [before, after] pair per spatial axis");
    for (const auto& pair : y) {
      if (!pair.IsSequence() || pair.size() != 2) n.failKey("padding", "each axis needs [before, after]");
      p.begin.push_back(pair[0].as<int>());
      p.end.push_back(pair[1].as<int>());
    }
  } else {
    p.begin = readPerAxis(n, "padding", rank, {}, 0);
    p.end = p.begin;
  }
  for (int v : p.begin)
    if (v < 0) n.failKey("padding", "must be >= 0");
  for (int v : p.end)
    if (v < 0) n.failKey("padding", "must be >= 0");
  return p;
}

DenseOptions readDenseOptions(config::ConfigNode& n) {
  DenseOptions o;
  o.units = n.get<long long>("units");
  if (o.units <= 0) n.failKey("units", "must be > 0");
  std::tie(o.activation, o.activationAlpha) = readActivation(n);
  o.useBias = n.getOr<bool>("use_bias", true);
  o.kernelInit = readInit(n, "kernel_init", o.kernelInit);
  o.biasInit = readInit(n, "bias_init", o.biasInit);
  return o;
}

ConvOptions readConvOptions(config::ConfigNode& n, int rank) {
  ConvOptions o;
  o.spatialRank = rank;
  o.filters = n.get<long long>("filters");
  if (o.filters <= 0) n.failKey("filters", "must be > 0");
  if (!n.has("kernel")) n.failKey("kernel", "missing required key");
  o.kernel = readPerAxis(n, "kernel", rank, {}, 1);
  o.stride = readPerAxis(n, "stride", rank, {}, 1);
  o.dilation = readPerAxis(n, "dilation", rank, {}, 1);
  PaddingSpec p = readPadding(n, rank);
  o.samePadding = p.same;
  o.padBegin = p.begin;
  o.padEnd = p.end;
  std::tie(o.activation, o.activationAlpha) = readActivation(n);
  o.useBias = n.getOr<bool>("use_bias", true);
  o.kernelInit = readInit(n, "kernel_init", o.kernelInit);
  o.biasInit = readInit(n, "bias_init", o.biasInit);
  return o;
}

PoolOptions readPoolOptions(config::ConfigNode& n, int rank, ops::PoolKind kind) {
  PoolOptions o;
  o.spatialRank = rank;
  o.kind = kind;
  if (!n.has("pool")) n.failKey("pool", "missing required key (the window size)");
  o.window = readPerAxis(n, "pool", rank, {}, 1);
  o.stride = readPerAxis(n, "stride", rank, {}, 1);
  PaddingSpec p = readPadding(n, rank);
  o.samePadding = p.same;
  o.padBegin = p.begin;
  o.padEnd = p.end;
  if (kind == ops::PoolKind::Average) o.includePad = n.getOr<bool>("count_include_pad", false);
  return o;
}

ConvTransposeOptions readConvTransposeOptions(config::ConfigNode& n, int rank) {
  ConvTransposeOptions o;
  o.conv = readConvOptions(n, rank);
  o.outputPadding = readPerAxis(n, "output_padding", rank, {}, 0);
  if (o.conv.samePadding && !o.outputPadding.empty())
    n.failKey("output_padding", "needs padding valid or explicit (same gives input * stride)");
  return o;
}

BatchNormOptions readBatchNormOptions(config::ConfigNode& n) {
  BatchNormOptions o;
  o.momentum = n.getOr<double>("momentum", o.momentum);
  if (o.momentum < 0 || o.momentum > 1) n.failKey("momentum", "must be in [0, 1]");
  o.epsilon = n.getOr<double>("epsilon", o.epsilon);
  if (o.epsilon <= 0) n.failKey("epsilon", "must be > 0");
  o.center = n.getOr<bool>("center", o.center);
  o.scale = n.getOr<bool>("scale", o.scale);
  o.sync = n.getOr<bool>("sync", o.sync);
  return o;
}

std::vector<int> readUpsampleFactors(config::ConfigNode& n, int rank) {
  return readPerAxis(n, "size", rank, {2}, 1);
}

std::pair<std::vector<int>, std::vector<int>> readZeroPadding(config::ConfigNode& n, int rank) {
  if (n.has("padding") && n.yaml()["padding"].IsScalar()) {
    const std::string& v = n.yaml()["padding"].Scalar();
    if (v == "same" || v == "valid") n.failKey("padding", "zero padding takes sizes, not '" + v + "'");
  }
  PaddingSpec p = readPadding(n, rank);
  if (p.begin.empty()) p.begin = p.end = {1};
  return {p.begin, p.end};
}

}  // namespace kaon::nn
