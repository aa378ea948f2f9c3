#include "kaon/nn/layer_registry.hpp"

#include "kaon/nn/layers/activation.hpp"
#include "kaon/nn/layers/add.hpp"
#include "kaon/nn/layers/batch_norm.hpp"
#include "kaon/nn/layers/concat.hpp"
#include "kaon/nn/layers/conv.hpp"
#include "kaon/nn/layers/conv_transpose.hpp"
#include "kaon/nn/layers/dense.hpp"
#include "kaon/nn/layers/dropout.hpp"
#include "kaon/nn/layers/pool.hpp"
#include "kaon/nn/layers/reshape.hpp"
#include "kaon/nn/layers/slice.hpp"
#include "kaon/nn/layers/sum.hpp"
#include "kaon/nn/layers/upsample.hpp"
#include "kaon/nn/layers/zero_pad.hpp"
#include "layer_options.hpp"

namespace kaon::nn {

void LayerRegistry::add(const std::string& type, LayerFactory factory) {
  KAON_CHECK(!has(type), "layer type '{}' registered twice", type);
  factories_[type] = std::move(factory);
}

std::unique_ptr<Layer> LayerRegistry::create(const std::string& type, const std::string& name,
                                             config::ConfigNode& node) const {
  auto it = factories_.find(type);
  KAON_CHECK(it != factories_.end(), "unknown layer type '{}'", type);
  return it->second(name, node);
}

std::vector<std::string> LayerRegistry::types() const {
  std::vector<std::string> t;
  for (const auto& [k, v] : factories_) t.push_back(k);
  return t;
}

const LayerRegistry& layerRegistry() {
  static const LayerRegistry registry = [] {
    LayerRegistry r;
    registerBuiltinLayers(r);
    return r;
  }();
  return registry;
}

void registerBuiltinLayers(LayerRegistry& r) {
  r.add("dense", [](const std::string& name, config::ConfigNode& n) {
    return std::make_unique<Dense>(name, readDenseOptions(n));
  });
  for (int rank = 1; rank <= 3; ++rank) {
    std::string suffix = std::to_string(rank) + "d";
    r.add("conv" + suffix, [rank](const std::string& name, config::ConfigNode& n) {
      return std::make_unique<Conv>(name, readConvOptions(n, rank));
    });
    r.add("max_pool" + suffix, [rank](const std::string& name, config::ConfigNode& n) {
      return std::make_unique<Pool>(name, readPoolOptions(n, rank, ops::PoolKind::Max));
    });
    r.add("avg_pool" + suffix, [rank](const std::string& name, config::ConfigNode& n) {
      return std::make_unique<Pool>(name, readPoolOptions(n, rank, ops::PoolKind::Average));
    });
    r.add("conv" + suffix + "_transpose", [rank](const std::string& name, config::ConfigNode& n) {
      return std::make_unique<ConvTranspose>(name, readConvTransposeOptions(n, rank));
    });
    r.add("upsample" + suffix, [rank](const std::string& name, config::ConfigNode& n) {
      return std::make_unique<Upsample>(name, rank, readUpsampleFactors(n, rank));
    });
    r.add("zero_pad" + suffix, [rank](const std::string& name, config::ConfigNode& n) {
      auto [before, after] = readZeroPadding(n, rank);
      return std::make_unique<ZeroPad>(name, rank, before, after);
    });
  }
  for (const char* act : {"relu", "leaky_relu", "sigmoid", "tanh", "elu"}) {
    r.add(act, [act](const std::string& name, config::ConfigNode& n) {
      ops::Activation kind = ops::activationFromName(act);
      double alpha = n.getOr<double>("alpha", kind == ops::Activation::LeakyRelu ? 0.3 : 1.0);
      return std::make_unique<ActivationLayer>(name, kind, alpha);
    });
  }
  r.add("softmax", [](const std::string& name, config::ConfigNode&) {
    return std::make_unique<ActivationLayer>(name, ops::Activation::Identity, 0.0, true);
  });
  r.add("flatten", [](const std::string& name, config::ConfigNode&) {
    return std::make_unique<Reshape>(name, std::vector<std::int64_t>{});
  });
  r.add("reshape", [](const std::string& name, config::ConfigNode& n) {
    auto dims = n.get<std::vector<int>>("shape");
    return std::make_unique<Reshape>(name, std::vector<std::int64_t>(dims.begin(), dims.end()));
  });
  r.add("sum", [](const std::string& name, config::ConfigNode& n) {
    return std::make_unique<Sum>(name, n.getOr<std::vector<int>>("axes", {}));
  });
  r.add("add", [](const std::string& name, config::ConfigNode&) { return std::make_unique<Add>(name); });
  r.add("batch_norm", [](const std::string& name, config::ConfigNode& n) {
    return std::make_unique<BatchNorm>(name, readBatchNormOptions(n));
  });
  r.add("dropout", [](const std::string& name, config::ConfigNode& n) {
    return std::make_unique<Dropout>(name, n.get<double>("rate"));
  });
  r.add("concat", [](const std::string& name, config::ConfigNode& n) {
    return std::make_unique<Concat>(name, n.getOr<int>("axis", 1));
  });
  r.add("slice", [](const std::string& name, config::ConfigNode& n) {
    auto end = n.find<long long>("end");
    return std::make_unique<Slice>(name, n.getOr<int>("axis", 1), n.getOr<long long>("begin", 0),
                                   end ? std::optional<std::int64_t>(*end) : std::nullopt);
  });
}

}  // namespace kaon::nn
