#include "kaon/nn/model_config.hpp"

#include "kaon/nn/layer_registry.hpp"

namespace kaon::nn {
namespace {

Shape readShape(config::ConfigNode& node, const std::string& key) {
  auto dims = node.get<std::vector<int>>(key);
  if (dims.empty() || dims.size() >= static_cast<std::size_t>(Shape::kMaxRank))
    node.failKey(key, "a per-sample shape needs 1 to 4 axes");
  std::vector<std::int64_t> d;
  for (int v : dims) {
    if (v <= 0) node.failKey(key, "dimensions must be positive");
    d.push_back(v);
  }
  return Shape(d);
}

}  // namespace

Model modelFromConfig(config::ConfigNode& node) {
  Model model;
  if (node.has("inputs")) {
    for (auto& in : node.sequence("inputs")) {
      std::string name = in.get<std::string>("name");
      model.addInput(name, readShape(in, "shape"));
      in.finish();
    }
    if (node.has("input_shape")) node.failKey("input_shape", "give either inputs or input_shape, not both");
  } else {
    model.addInput("input", readShape(node, "input_shape"));
  }
  const LayerRegistry& registry = layerRegistry();
  auto layers = node.sequence("layers");
  if (layers.empty()) node.failKey("layers", "a model needs at least one layer");
  for (std::size_t i = 0; i < layers.size(); ++i) {
    auto& l = layers[i];
    if (!l.isMap()) l.fail("expected a mapping with a 'type' key");
    std::string type = l.get<std::string>("type");
    if (!registry.has(type)) {
      std::string near = config::closestMatch(type, registry.types());
      l.failKey("type", "unknown layer type '" + type + "'" + (near.empty() ? "" : " (did you mean '" + near + "'?)"));
    }
    std::string name = l.getOr<std::string>("name", type + "_" + std::to_string(i + 1));
    auto inputs = l.getOr<std::vector<std::string>>("inputs", {});
    bool frozen = l.getOr<bool>("frozen", false);
    std::unique_ptr<Layer> layer;
    try {
      layer = registry.create(type, name, l);
    } catch (const config::ConfigError&) {
      throw;
    } catch (const Error& e) {
      l.fail(e.what());
    }
    l.finish();
    layer->setFrozen(frozen);
    try {
      model.add(std::move(layer), inputs);
    } catch (const Error& e) {
      l.fail(e.what());
    }
  }
  if (node.has("outputs")) model.setOutputs(node.get<std::vector<std::string>>("outputs"));
  node.finish();
  return model;
}

}  // namespace kaon::nn
