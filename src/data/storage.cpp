#include "kaon/data/storage.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "kaon/core/error.hpp"

namespace kaon::data {

std::shared_ptr<InMemoryDataset> cacheInMemory(const Dataset& dataset, std::int64_t batchSize) {
  const std::int64_t n = dataset.size();
  Batch all = dataset.allocateBatch(n);
  Batch part = dataset.allocateBatch(std::min(batchSize, n));
  std::vector<std::int64_t> idx;
  for (std::int64_t start = 0; start < n; start += batchSize) {
    std::int64_t count = std::min(batchSize, n - start);
    if (count != part.size()) part = dataset.allocateBatch(count);
    idx.resize(static_cast<std::size_t>(count));
    for (std::int64_t i = 0; i < count; ++i) idx[static_cast<std::size_t>(i)] = start + i;
    dataset.read(idx, part);
    for (std::size_t k = 0; k < all.inputs.size(); ++k) all.inputs[k].slice(start, start + count).copyFrom(part.inputs[k]);
    for (std::size_t k = 0; k < all.targets.size(); ++k)
      all.targets[k].slice(start, start + count).copyFrom(part.targets[k]);
    if (all.weights.defined()) all.weights.slice(start, start + count).copyFrom(part.weights);
  }
  std::size_t bytes = 0;
  for (const auto& t : all.inputs) bytes += t.bytes();
  for (const auto& t : all.targets) bytes += t.bytes();
  spdlog::info("data: cached {} samples in memory ({:.1f} MiB): {}", n, static_cast<double>(bytes) / (1 << 20),
               dataset.describe());
  return std::make_shared<InMemoryDataset>(std::move(all.inputs), std::move(all.targets), std::move(all.weights),
                                           dataset.describe() + " (cached in memory)");
}

std::vector<std::string> stageFiles(const std::vector<std::string>& files, const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  KAON_CHECK(!ec, "data.stage_to: cannot create '{}': {}", dir, ec.message());
  std::vector<std::string> staged;
  for (const auto& file : files) {
    fs::path src = fs::absolute(file);
    KAON_CHECK(fs::is_regular_file(src, ec), "{}: no such file (data.stage_to)", file);
    std::size_t h = std::hash<std::string>{}(src.parent_path().string());
    fs::path dst = fs::path(dir) / fmt::format("{:08x}-{}", static_cast<std::uint32_t>(h), src.filename().string());
    bool fresh = fs::exists(dst, ec) && fs::file_size(dst, ec) == fs::file_size(src, ec) &&
                 fs::last_write_time(dst, ec) >= fs::last_write_time(src, ec);
    if (!fresh) {
      fs::path tmp = dst;
      tmp += fmt::format(".tmp-{}", ::getpid());  // unique per process on this node
      fs::copy_file(src, tmp, fs::copy_options::overwrite_existing, ec);
      KAON_CHECK(!ec, "data.stage_to: copying {} to {} failed: {}", file, tmp.string(), ec.message());
      fs::rename(tmp, dst, ec);
      KAON_CHECK(!ec, "data.stage_to: renaming {} to {} failed: {}", tmp.string(), dst.string(), ec.message());
      spdlog::info("data: staged {} -> {}", file, dst.string());
    }
    staged.push_back(dst.string());
  }
  return staged;
}

}  // namespace kaon::data
