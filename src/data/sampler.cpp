#include "kaon/data/sampler.hpp"

#include <numeric>

#include "kaon/core/error.hpp"
#include "kaon/data/dataset.hpp"

namespace kaon::data {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

ShardedSampler::ShardedSampler(std::int64_t datasetSize, SamplerOptions options)
    : size_(datasetSize), options_(options) {
  KAON_CHECK(options_.worldSize >= 1 && options_.rank >= 0 && options_.rank < options_.worldSize,
             "sampler: rank {} of world size {} is invalid", options_.rank, options_.worldSize);
  KAON_CHECK(size_ > 0, "sampler: the dataset is empty");
  KAON_CHECK(size_ >= options_.worldSize, "sampler: {} samples cannot be shared by {} ranks (fewer samples than ranks)",
             size_, options_.worldSize);
  perRank_ = options_.remainder == RemainderPolicy::Drop ? size_ / options_.worldSize
                                                         : (size_ + options_.worldSize - 1) / options_.worldSize;
}

std::vector<std::int64_t> ShardedSampler::permutation(std::int64_t epoch) const {
  std::vector<std::int64_t> p(static_cast<std::size_t>(size_));
  std::iota(p.begin(), p.end(), 0);
  if (!options_.shuffle) return p;
  std::uint64_t state = splitmix64(options_.seed ^ splitmix64(static_cast<std::uint64_t>(epoch) + 0x5A4D));
  for (std::int64_t i = size_ - 1; i > 0; --i) {
    state = splitmix64(state);
    // Lemire's multiply-shift maps 64 random bits to [0, i] with negligible bias for i < 2^40.
    __extension__ using U128 = unsigned __int128;
    auto j = static_cast<std::int64_t>((static_cast<U128>(state) * static_cast<std::uint64_t>(i + 1)) >> 64);
    std::swap(p[i], p[j]);
  }
  return p;
}

std::vector<std::int64_t> ShardedSampler::indices(std::int64_t epoch) const {
  std::vector<std::int64_t> p = permutation(epoch);
  std::vector<std::int64_t> out;
  out.reserve(static_cast<std::size_t>(perRank_));
  // Rank r takes positions r, r+W, ... of the permutation, padded by wrapping to its start.
  for (std::int64_t k = 0; k < perRank_; ++k) out.push_back(p[(k * options_.worldSize + options_.rank) % size_]);
  return out;
}

ShardedSampler shardedSamplerFor(const Dataset& dataset, SamplerOptions options) {
  try {
    return ShardedSampler(dataset.size(), options);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " [data: " + dataset.describe() + "]");
  }
}

}  // namespace kaon::data
