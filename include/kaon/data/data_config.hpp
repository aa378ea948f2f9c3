#pragma once
// Builds the training and validation datasets from the `data:` section of a run config.
//
//   data:
//     source: synthetic             # synthetic now; hdf5 with the HDF5 reader
//     generator: jet_images         # physically motivated generator (docs/data-jet-images.md)
//     samples: 4000
//     pixels: 64                    # jet_images: image size
//     channels: 3                   # jet_images: 3 (ECAL, HCAL, tracks) or 1
//     signal_fraction: 0.5
//     validation_fraction: 0.2      # held out by a seeded split
#include <memory>

#include "kaon/config/config_node.hpp"
#include "kaon/data/dataset.hpp"

namespace kaon::data {

struct DatasetSplit {
  std::shared_ptr<Dataset> train;
  std::shared_ptr<Dataset> validation;  // null when validation_fraction is 0
};

DatasetSplit datasetsFromConfig(config::ConfigNode& node, std::uint64_t seed);

// Splits `base` by a seeded permutation: the last `fraction` of it is the validation set.
DatasetSplit splitDataset(std::shared_ptr<Dataset> base, double fraction, std::uint64_t seed);

}  // namespace kaon::data
