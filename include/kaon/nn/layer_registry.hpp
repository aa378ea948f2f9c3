#pragma once
// Builds layers from config entries. Every layer type is registered in one explicit function
// (registerBuiltinLayers in src/nn/layer_registry.cpp): a new layer adds one line there.
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "kaon/config/config_node.hpp"
#include "kaon/nn/layer.hpp"

namespace kaon::nn {

// Reads the layer's own keys from `node` (name/type/inputs/frozen are handled by the caller).
using LayerFactory = std::function<std::unique_ptr<Layer>(const std::string& name, config::ConfigNode& node)>;

class LayerRegistry {
 public:
  void add(const std::string& type, LayerFactory factory);
  bool has(const std::string& type) const { return factories_.count(type) > 0; }
  std::unique_ptr<Layer> create(const std::string& type, const std::string& name, config::ConfigNode& node) const;
  std::vector<std::string> types() const;

 private:
  std::map<std::string, LayerFactory> factories_;
};

const LayerRegistry& layerRegistry();
void registerBuiltinLayers(LayerRegistry& registry);

}  // namespace kaon::nn
