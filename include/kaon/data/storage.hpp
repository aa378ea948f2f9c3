#pragma once
// Where samples live during training: `cache: memory` reads a dataset once into RAM;
// `stage_to: DIR` copies input files to node-local storage before they are opened.
#include <memory>
#include <string>
#include <vector>

#include "kaon/data/in_memory_dataset.hpp"

namespace kaon::data {

// Reads every sample of `dataset` (in batches of consecutive indices, so files are read
// sequentially) into one InMemoryDataset. With the per-epoch global permutation every rank
// may visit every sample, so this holds the whole dataset, not a fixed per-rank shard.
std::shared_ptr<InMemoryDataset> cacheInMemory(const Dataset& dataset, std::int64_t batchSize = 256);

// Copies each file to `dir` (created if needed) and returns the new paths, in order. A file
// already staged (same size, not older than the source) is reused, so ranks sharing a node
// and restarted jobs copy once. Copies go to a unique temporary name and are renamed into
// place, so concurrent ranks never see a half-written file. Names are prefixed with a hash of
// the source directory so equal base names from different directories do not collide.
std::vector<std::string> stageFiles(const std::vector<std::string>& files, const std::string& dir);

}  // namespace kaon::data
