#pragma once
// Source-specific parts of the `data:` section (internal to data_config.cpp).
#include <functional>
#include <memory>
#include <optional>

#include "kaon/config/config_node.hpp"
#include "kaon/data/hdf5_dataset.hpp"

namespace kaon::data::detail {

struct Hdf5Sources {
  Hdf5DatasetOptions train;
  std::optional<Hdf5DatasetOptions> validation;  // validation_files / per-class validation files
  std::string stageTo;                           // data.stage_to (empty: read in place)
};
// Reads every `source: hdf5` key; opens no file.
Hdf5Sources hdf5SourcesFromConfig(config::ConfigNode& node);
// Copies the files to sources.stageTo and points the options at the copies.
void stageSources(Hdf5Sources& sources);

struct SyntheticSource {
  std::function<std::shared_ptr<Dataset>()> make;  // generates on call
};
// Reads the generator keys; generation happens when make() is called.
SyntheticSource syntheticFromConfig(config::ConfigNode& node, std::uint64_t seed);

}  // namespace kaon::data::detail
