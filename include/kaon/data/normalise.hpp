#pragma once
// Per-channel normalisation of the first input: x' = (x - shift[c]) * scale[c], where c is
// axis 0 of a sample (channels-first; a flat sample [F] has one channel per feature, a
// scalar sample one channel). Statistics are computed once, on the training data, and stored
// with the run (an HDF5 file) so a resumed run and inference use exactly the same values.
#include <memory>
#include <string>
#include <vector>

#include "kaon/data/dataset.hpp"

namespace kaon::data {

enum class NormaliseMode {
  None,
  Max,       // divide by max |x| of the channel (1 where the channel is all zero)
  Standard,  // subtract the mean, divide by the standard deviation (1 where it is zero)
};
NormaliseMode normaliseModeFromName(const std::string& name);  // none | max | standard
std::string normaliseModeName(NormaliseMode mode);

struct ChannelStats {
  NormaliseMode mode = NormaliseMode::None;
  Shape sampleShape;                // the first input's per-sample shape they were computed for
  std::vector<double> shift, scale;  // one per channel
};

// One pass over the dataset's first input in batches of consecutive indices (double sums).
ChannelStats computeChannelStats(const Dataset& dataset, NormaliseMode mode, std::int64_t batchSize = 256);
void saveChannelStats(const std::string& path, const ChannelStats& stats);
ChannelStats loadChannelStats(const std::string& path);

// Applies stats to the first input of every batch read from `base` (kept alive).
class NormalisedDataset : public Dataset {
 public:
  NormalisedDataset(std::shared_ptr<const Dataset> base, ChannelStats stats);
  std::string describe() const override;
  std::int64_t size() const override { return base_->size(); }
  std::vector<Shape> inputShapes() const override { return base_->inputShapes(); }
  std::vector<Shape> targetShapes() const override { return base_->targetShapes(); }
  bool hasWeights() const override { return base_->hasWeights(); }
  void read(std::span<const std::int64_t> indices, Batch& out) const override;
  const ChannelStats& stats() const { return stats_; }

 private:
  std::shared_ptr<const Dataset> base_;
  ChannelStats stats_;
};

}  // namespace kaon::data
