#pragma once
// A dataset held in memory as whole tensors [N, ...]; also the cache behind `cache: memory`.
#include "kaon/data/dataset.hpp"

namespace kaon::data {

class InMemoryDataset : public Dataset {
 public:
  // All tensors float32 on the CPU with the same first dimension.
  InMemoryDataset(std::vector<Tensor> inputs, std::vector<Tensor> targets, Tensor weights = {},
                  std::string description = "in-memory");
  std::string describe() const override { return description_; }
  std::int64_t size() const override { return size_; }
  std::vector<Shape> inputShapes() const override;
  std::vector<Shape> targetShapes() const override;
  bool hasWeights() const override { return weights_.defined(); }
  void read(std::span<const std::int64_t> indices, Batch& out) const override;

  const std::vector<Tensor>& inputs() const { return inputs_; }
  const std::vector<Tensor>& targets() const { return targets_; }

 private:
  std::vector<Tensor> inputs_, targets_;
  Tensor weights_;
  std::int64_t size_ = 0;
  std::string description_;
};

// The samples at `indices` of another dataset, in that order (validation splits, shards).
class SubsetDataset : public Dataset {
 public:
  SubsetDataset(const Dataset& base, std::vector<std::int64_t> indices, std::string label);
  std::string describe() const override;
  std::int64_t size() const override { return static_cast<std::int64_t>(indices_.size()); }
  std::vector<Shape> inputShapes() const override { return base_.inputShapes(); }
  std::vector<Shape> targetShapes() const override { return base_.targetShapes(); }
  bool hasWeights() const override { return base_.hasWeights(); }
  void read(std::span<const std::int64_t> indices, Batch& out) const override;

 private:
  const Dataset& base_;
  std::vector<std::int64_t> indices_;
  std::string label_;
};

}  // namespace kaon::data
