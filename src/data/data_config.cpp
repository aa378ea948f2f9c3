// data: section -> datasets. Source-specific keys live in hdf5_config.cpp and
// synthetic_config.cpp; this file handles what every source shares (validation, caching,
// normalisation, prefetch) and checks every key before any slow work starts.
#include "kaon/data/data_config.hpp"

#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>

#include "config_parts.hpp"
#include "kaon/data/hdf5_dataset.hpp"
#include "kaon/data/in_memory_dataset.hpp"
#include "kaon/data/normalise.hpp"
#include "kaon/data/sampler.hpp"
#include "kaon/data/storage.hpp"

namespace kaon::data {
namespace {

// Keeps the base dataset alive for as long as a subset of it is used.
class OwningSubset : public SubsetDataset {
 public:
  OwningSubset(std::shared_ptr<Dataset> base, std::vector<std::int64_t> indices, std::string label)
      : SubsetDataset(*base, std::move(indices), std::move(label)), owner_(std::move(base)) {}

 private:
  std::shared_ptr<Dataset> owner_;
};

}  // namespace

DatasetSplit splitDataset(std::shared_ptr<Dataset> base, double fraction, std::uint64_t seed) {
  KAON_CHECK(fraction >= 0 && fraction < 1, "validation_fraction must be in [0, 1), got {}", fraction);
  if (fraction == 0) return {base, nullptr};
  std::int64_t n = base->size();
  auto nVal = static_cast<std::int64_t>(std::llround(fraction * static_cast<double>(n)));
  KAON_CHECK(nVal >= 1 && nVal < n, "validation_fraction {} of {} samples leaves an empty split", fraction, n);
  std::vector<std::int64_t> perm = ShardedSampler(n, {true, seed ^ 0x7A11DA7Eull, 0, 1, RemainderPolicy::Pad}).permutation(0);
  std::vector<std::int64_t> train(perm.begin(), perm.end() - nVal), val(perm.end() - nVal, perm.end());
  return {std::make_shared<OwningSubset>(base, std::move(train), "training split"),
          std::make_shared<OwningSubset>(base, std::move(val), "validation split")};
}

DatasetSplit datasetsFromConfig(config::ConfigNode& node, std::uint64_t seed) {
  return datasetsFromConfig(node, DataContext{seed, ""});
}

DatasetSplit datasetsFromConfig(config::ConfigNode& node, const DataContext& context) {
  std::string source = node.getChoice("source", {"synthetic", "hdf5"});
  double fraction = node.getOr<double>("validation_fraction", 0.0);
  if (fraction < 0 || fraction >= 1) node.failKey("validation_fraction", "must be in [0, 1)");
  NormaliseMode normalise = normaliseModeFromName(node.getChoice("normalise", {"none", "max", "standard"}, "none"));
  std::string statsFile = node.getOr<std::string>("normalisation_file", "");
  if (!statsFile.empty() && normalise == NormaliseMode::None)
    node.failKey("normalisation_file", "is set but data.normalise is none");
  if (statsFile.empty() && normalise != NormaliseMode::None && !context.runDir.empty())
    statsFile = (std::filesystem::path(context.runDir) / "normalisation.h5").string();
  bool cache = node.getChoice("cache", {"none", "memory"}, "none") == "memory";
  DatasetSplit split;
  split.prefetch = node.getOr<int>("prefetch", 2);
  if (split.prefetch < 0) node.failKey("prefetch", "must be >= 0 (0: read synchronously)");

  std::shared_ptr<Dataset> train, validation;
  if (source == "hdf5") {
    detail::Hdf5Sources h5 = detail::hdf5SourcesFromConfig(node);
    if (h5.validation && fraction > 0)
      node.failKey("validation_fraction", "cannot be combined with separate validation files");
    node.finish();  // every key checked before files are copied or opened
    if (!h5.stageTo.empty()) detail::stageSources(h5);
    train = std::make_shared<Hdf5Dataset>(h5.train);
    if (h5.validation) validation = std::make_shared<Hdf5Dataset>(*h5.validation);
  } else {
    detail::SyntheticSource synthetic = detail::syntheticFromConfig(node, context.seed);
    node.finish();  // every key checked before the (possibly slow) generation starts
    train = synthetic.make();
  }
  if (cache) {
    if (!std::dynamic_pointer_cast<InMemoryDataset>(train)) train = cacheInMemory(*train);
    if (validation) validation = cacheInMemory(*validation);
  }
  if (!validation) {
    DatasetSplit parts = splitDataset(train, fraction, context.seed);
    train = parts.train, validation = parts.validation;
  }
  if (normalise != NormaliseMode::None) {
    ChannelStats stats;
    if (!statsFile.empty() && std::filesystem::exists(statsFile)) {
      stats = loadChannelStats(statsFile);
      KAON_CHECK(stats.mode == normalise, "{}: holds {} statistics, data.normalise is {}", statsFile,
                 normaliseModeName(stats.mode), normaliseModeName(normalise));
      spdlog::info("data: normalisation statistics from {}", statsFile);
    } else {
      stats = computeChannelStats(*train, normalise);
      if (!statsFile.empty()) {
        saveChannelStats(statsFile, stats);
        spdlog::info("data: normalisation statistics ({}) written to {}", normaliseModeName(normalise), statsFile);
      }
    }
    train = std::make_shared<NormalisedDataset>(train, stats);
    if (validation) validation = std::make_shared<NormalisedDataset>(validation, stats);
  }
  split.train = train;
  split.validation = validation;
  return split;
}

}  // namespace kaon::data
