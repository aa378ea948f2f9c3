#include "kaon/data/data_config.hpp"

#include <cmath>

#include "kaon/data/in_memory_dataset.hpp"
#include "kaon/data/jet_images.hpp"
#include "kaon/data/sampler.hpp"

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

JetImageOptions syntheticOptions(config::ConfigNode& node, std::uint64_t seed) {
  node.getChoice("generator", {"jet_images"});
  JetImageOptions o;
  o.samples = node.get<long long>("samples");
  if (o.samples < 2) node.failKey("samples", "must be >= 2");
  o.pixels = node.getOr<int>("pixels", 64);
  o.channels = node.getOr<int>("channels", 3);
  if (o.channels != 1 && o.channels != 3) node.failKey("channels", "must be 1 or 3");
  o.signalFraction = node.getOr<double>("signal_fraction", 0.5);
  o.seed = static_cast<std::uint64_t>(node.getOr<long long>("seed", static_cast<long long>(seed)));
  return o;
}

std::shared_ptr<Dataset> makeSynthetic(const JetImageOptions& o) {
  JetImages jets = generateJetImages(o);
  return std::make_shared<InMemoryDataset>(std::vector<Tensor>{jets.images}, std::vector<Tensor>{jets.labels}, Tensor(),
                                           "synthetic jet_images (" + std::to_string(o.samples) + " samples)");
}

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
  std::string source = node.getChoice("source", {"synthetic", "hdf5"});
  double fraction = node.getOr<double>("validation_fraction", 0.0);
  if (fraction < 0 || fraction >= 1) node.failKey("validation_fraction", "must be in [0, 1)");
  if (source == "hdf5") throw NotImplemented("data.source: hdf5 (the HDF5 reader is the data-pipeline issue)");
  JetImageOptions options = syntheticOptions(node, seed);
  node.finish();  // every key checked before the (possibly slow) generation starts
  return splitDataset(makeSynthetic(options), fraction, seed);
}

}  // namespace kaon::data
