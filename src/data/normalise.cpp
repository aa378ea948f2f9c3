#include "kaon/data/normalise.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "../io/hdf5_file.hpp"

namespace kaon::data {
namespace {

// (channels, values per channel) of a per-sample shape, channels on axis 0.
std::pair<std::int64_t, std::int64_t> channelLayout(const Shape& s) {
  if (s.rank() == 0) return {1, 1};
  return {s[0], s.numel() / std::max<std::int64_t>(s[0], 1)};
}

}  // namespace

NormaliseMode normaliseModeFromName(const std::string& name) {
  if (name == "none") return NormaliseMode::None;
  if (name == "max") return NormaliseMode::Max;
  if (name == "standard") return NormaliseMode::Standard;
  KAON_FAIL("unknown normalisation '{}' (expected none, max, standard)", name);
}

std::string normaliseModeName(NormaliseMode mode) {
  switch (mode) {
    case NormaliseMode::None: return "none";
    case NormaliseMode::Max: return "max";
    case NormaliseMode::Standard: return "standard";
  }
  return "?";
}

ChannelStats computeChannelStats(const Dataset& dataset, NormaliseMode mode, std::int64_t batchSize) {
  ChannelStats st;
  st.mode = mode;
  st.sampleShape = dataset.inputShapes().at(0);
  auto [channels, per] = channelLayout(st.sampleShape);
  std::vector<double> sum(static_cast<std::size_t>(channels), 0), sumSq(sum), maxAbs(sum);
  const std::int64_t n = dataset.size();
  Batch batch = dataset.allocateBatch(std::min(batchSize, n));
  std::vector<std::int64_t> idx;
  for (std::int64_t start = 0; start < n; start += batchSize) {
    std::int64_t count = std::min(batchSize, n - start);
    if (count != batch.size()) batch = dataset.allocateBatch(count);
    idx.resize(static_cast<std::size_t>(count));
    for (std::int64_t i = 0; i < count; ++i) idx[static_cast<std::size_t>(i)] = start + i;
    dataset.read(idx, batch);
    const float* x = batch.inputs[0].data<float>();
    for (std::int64_t s = 0; s < count; ++s)
      for (std::int64_t c = 0; c < channels; ++c) {
        const float* v = x + (s * channels + c) * per;
        double a = 0, b = 0, m = maxAbs[static_cast<std::size_t>(c)];
        for (std::int64_t k = 0; k < per; ++k) a += v[k], b += static_cast<double>(v[k]) * v[k], m = std::max(m, std::fabs(static_cast<double>(v[k])));
        sum[static_cast<std::size_t>(c)] += a, sumSq[static_cast<std::size_t>(c)] += b, maxAbs[static_cast<std::size_t>(c)] = m;
      }
  }
  const double count = static_cast<double>(n) * static_cast<double>(per);
  for (std::size_t c = 0; c < sum.size(); ++c) {
    if (mode == NormaliseMode::Standard) {
      double mean = sum[c] / count, var = std::max(0.0, sumSq[c] / count - mean * mean);
      st.shift.push_back(mean);
      st.scale.push_back(var > 0 ? 1.0 / std::sqrt(var) : 1.0);
    } else if (mode == NormaliseMode::Max) {
      st.shift.push_back(0.0);
      st.scale.push_back(maxAbs[c] > 0 ? 1.0 / maxAbs[c] : 1.0);
    } else {
      st.shift.push_back(0.0);
      st.scale.push_back(1.0);
    }
  }
  return st;
}

void saveChannelStats(const std::string& path, const ChannelStats& st) {
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  io::Hdf5File f(path, io::Hdf5File::Mode::Truncate);
  f.writeAttribute("mode", normaliseModeName(st.mode));
  f.writeTensor("/shift", Tensor::fromVector<double>(Shape{static_cast<std::int64_t>(st.shift.size())}, st.shift));
  f.writeTensor("/scale", Tensor::fromVector<double>(Shape{static_cast<std::int64_t>(st.scale.size())}, st.scale));
  auto dims = st.sampleShape.vec();
  f.writeTensor("/sample_shape", Tensor::fromVector<std::int64_t>(Shape{static_cast<std::int64_t>(dims.size())}, dims));
}

ChannelStats loadChannelStats(const std::string& path) {
  io::Hdf5File f(path, io::Hdf5File::Mode::Read);
  ChannelStats st;
  KAON_CHECK(f.hasAttribute("mode") && f.exists("/shift") && f.exists("/scale") && f.exists("/sample_shape"),
             "{}: not a Kaon normalisation file (needs mode, shift, scale, sample_shape)", path);
  st.mode = normaliseModeFromName(f.readStringAttribute("mode"));
  st.shift = f.readTensor("/shift", DType::Float64).toVector<double>();
  st.scale = f.readTensor("/scale", DType::Float64).toVector<double>();
  st.sampleShape = Shape(f.readTensor("/sample_shape", DType::Int64).toVector<std::int64_t>());
  KAON_CHECK(st.shift.size() == st.scale.size(), "{}: shift and scale differ in length", path);
  return st;
}

NormalisedDataset::NormalisedDataset(std::shared_ptr<const Dataset> base, ChannelStats stats)
    : base_(std::move(base)), stats_(std::move(stats)) {
  Shape s = base_->inputShapes().at(0);
  KAON_CHECK(s == stats_.sampleShape, "{}: normalisation statistics were computed for samples of shape {}, these are {}",
             base_->describe(), stats_.sampleShape.str(), s.str());
  KAON_CHECK(static_cast<std::int64_t>(stats_.scale.size()) == channelLayout(s).first,
             "{}: {} normalisation channels for samples of shape {}", base_->describe(), stats_.scale.size(), s.str());
}

std::string NormalisedDataset::describe() const {
  return base_->describe() + " (" + normaliseModeName(stats_.mode) + "-normalised)";
}

void NormalisedDataset::read(std::span<const std::int64_t> indices, Batch& out) const {
  base_->read(indices, out);
  auto [channels, per] = channelLayout(stats_.sampleShape);
  float* x = out.inputs[0].data<float>();
  const std::int64_t n = out.inputs[0].dim(0);
  for (std::int64_t s = 0; s < n; ++s)
    for (std::int64_t c = 0; c < channels; ++c) {
      const auto shift = static_cast<float>(stats_.shift[static_cast<std::size_t>(c)]);
      const auto scale = static_cast<float>(stats_.scale[static_cast<std::size_t>(c)]);
      float* v = x + (s * channels + c) * per;
      for (std::int64_t k = 0; k < per; ++k) v[k] = (v[k] - shift) * scale;
    }
}

}  // namespace kaon::data
