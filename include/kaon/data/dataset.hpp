#pragma once
// Dataset: random access to samples, read in batches. In-memory, synthetic and HDF5 sources
// implement it; the trainer and the distributed strategies only see this interface.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kaon/core/tensor.hpp"

namespace kaon::data {

// One batch: a tensor per model input and per training target, optional per-sample weights.
// Tensors are [N, *perSampleShape]; a scalar target (a class label) is [N].
struct Batch {
  std::vector<Tensor> inputs;
  std::vector<Tensor> targets;
  Tensor weights;  // [N] or undefined
  std::int64_t size() const { return inputs.empty() ? 0 : inputs[0].dim(0); }
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual std::string describe() const = 0;  // for logs and errors: file names, generator, ...
  virtual std::int64_t size() const = 0;
  virtual std::vector<Shape> inputShapes() const = 0;   // per sample
  virtual std::vector<Shape> targetShapes() const = 0;  // per sample; Shape{} for a scalar
  virtual bool hasWeights() const { return false; }
  // Reads the samples at `indices` (any order, each in [0, size())) into `out`, whose tensors
  // are allocated by the caller with allocateBatch().
  virtual void read(std::span<const std::int64_t> indices, Batch& out) const = 0;

  // Allocates float32 tensors for a batch of n samples.
  Batch allocateBatch(std::int64_t n) const;
};

}  // namespace kaon::data
