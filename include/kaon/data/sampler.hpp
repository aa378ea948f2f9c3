#pragma once
// Deterministic sharded sampler: every epoch draws one global permutation of the dataset from
// (seed, epoch), and rank r of W takes positions r, r+W, r+2W, ... of it. Strided shards make
// rank r's b-th batch of size B/W exactly its share of the b-th global batch of size B, so a
// W-rank run sees the same global batches as a one-rank run (strong scaling equivalence).
// The same seed gives the same sequence on any platform (own Fisher-Yates + splitmix64, not
// std::shuffle, whose output differs between standard libraries).
#include <cstdint>
#include <vector>

namespace kaon::data {

enum class RemainderPolicy {
  Pad,   // when size % world != 0, wrap around to the permutation's start so all ranks get equal counts
  Drop,  // drop the tail so all ranks get equal counts
};

struct SamplerOptions {
  bool shuffle = true;
  std::uint64_t seed = 0;
  int rank = 0;
  int worldSize = 1;
  RemainderPolicy remainder = RemainderPolicy::Pad;
};

class ShardedSampler {
 public:
  ShardedSampler(std::int64_t datasetSize, SamplerOptions options);
  std::int64_t samplesPerRank() const { return perRank_; }
  // This rank's sample indices for `epoch`, in the order to visit them.
  std::vector<std::int64_t> indices(std::int64_t epoch) const;
  // The whole permutation for `epoch` (all ranks' parts concatenated, before padding).
  std::vector<std::int64_t> permutation(std::int64_t epoch) const;

 private:
  std::int64_t size_;
  SamplerOptions options_;
  std::int64_t perRank_;
};

class Dataset;
// The sampler over `dataset`; its errors (more ranks than samples, ...) name the dataset.
ShardedSampler shardedSamplerFor(const Dataset& dataset, SamplerOptions options);

// splitmix64: a fast, well-mixed 64-bit hash; also seeds other generators reproducibly.
std::uint64_t splitmix64(std::uint64_t x);

}  // namespace kaon::data
