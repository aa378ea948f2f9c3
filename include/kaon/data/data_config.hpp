#pragma once
// Builds the training and validation datasets from the `data:` section of a run config
// (every key documented in docs/config.md):
//
//   data:
//     source: synthetic | hdf5
//     # synthetic: generator (jet_images | calo_showers | weather), samples, generator keys
//     # hdf5: files | file_list | classes, features, labels, weights, extras, layout,
//     #       class_weights, on_nan, chunk_cache_mb, max_open_files, stage_to,
//     #       validation_files | validation_file_list
//     validation_fraction: 0.2      # held out by a seeded split (or separate validation files)
//     normalise: none | max | standard   # per channel of the first input, from the training data
//     normalisation_file: PATH      # stats stored here (default <run dir>/normalisation.h5)
//     cache: none | memory
//     prefetch: 2                   # batches read ahead by the loader thread (0: synchronous)
#include <memory>

#include "kaon/config/config_node.hpp"
#include "kaon/data/dataset.hpp"

namespace kaon::data {

struct DatasetSplit {
  std::shared_ptr<Dataset> train;
  std::shared_ptr<Dataset> validation;  // null when there is no validation data
  int prefetch = 2;                     // data.prefetch, for the Loader
};

struct DataContext {
  std::uint64_t seed = 0;
  // The run's directory (checkpoint dir): normalisation statistics are stored there when
  // data.normalisation_file is not given. Empty: statistics are not stored.
  std::string runDir;
};

DatasetSplit datasetsFromConfig(config::ConfigNode& node, const DataContext& context);
DatasetSplit datasetsFromConfig(config::ConfigNode& node, std::uint64_t seed);

// Splits `base` by a seeded permutation: the last `fraction` of it is the validation set.
DatasetSplit splitDataset(std::shared_ptr<Dataset> base, double fraction, std::uint64_t seed);

}  // namespace kaon::data
