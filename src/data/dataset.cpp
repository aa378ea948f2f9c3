#include "kaon/data/dataset.hpp"

#include <cstring>

#include "kaon/data/in_memory_dataset.hpp"

namespace kaon::data {

Batch Dataset::allocateBatch(std::int64_t n) const {
  Batch b;
  for (const auto& s : inputShapes()) b.inputs.push_back(Tensor::empty(s.prepend(n)));
  for (const auto& s : targetShapes()) b.targets.push_back(Tensor::empty(s.prepend(n)));
  if (hasWeights()) b.weights = Tensor::empty(Shape{n});
  return b;
}

InMemoryDataset::InMemoryDataset(std::vector<Tensor> inputs, std::vector<Tensor> targets, Tensor weights,
                                 std::string description)
    : inputs_(std::move(inputs)), targets_(std::move(targets)), weights_(std::move(weights)),
      description_(std::move(description)) {
  KAON_CHECK(!inputs_.empty(), "{}: a dataset needs at least one input", description_);
  size_ = inputs_[0].dim(0);
  auto check = [&](const Tensor& t, const char* what) {
    KAON_CHECK(t.dtype() == DType::Float32 && t.device().isCpu(), "{}: {} must be float32 on the CPU", description_,
               what);
    KAON_CHECK(t.rank() >= 1 && t.dim(0) == size_, "{}: {} has {} samples, the first input has {}", description_,
               what, t.rank() ? t.dim(0) : 0, size_);
  };
  for (const auto& t : inputs_) check(t, "an input");
  for (const auto& t : targets_) check(t, "a target");
  if (weights_.defined()) {
    check(weights_, "the weights");
    KAON_CHECK(weights_.rank() == 1, "{}: weights must be [N]", description_);
  }
}

std::vector<Shape> InMemoryDataset::inputShapes() const {
  std::vector<Shape> s;
  for (const auto& t : inputs_) s.push_back(t.shape().dropFirst());
  return s;
}

std::vector<Shape> InMemoryDataset::targetShapes() const {
  std::vector<Shape> s;
  for (const auto& t : targets_) s.push_back(t.shape().dropFirst());
  return s;
}

namespace {
void gather(const Tensor& src, std::span<const std::int64_t> indices, const Tensor& dst, std::int64_t size,
            const std::string& what) {
  const std::int64_t row = src.numel() / std::max<std::int64_t>(src.dim(0), 1);
  KAON_CHECK(dst.dim(0) == static_cast<std::int64_t>(indices.size()) && dst.numel() / std::max<std::int64_t>(dst.dim(0), 1) == row,
             "{}: batch tensor {} does not fit {} samples of {} values", what, dst.shape().str(), indices.size(), row);
  const float* s = src.data<float>();
  float* d = dst.data<float>();
  for (std::size_t i = 0; i < indices.size(); ++i) {
    KAON_CHECK(indices[i] >= 0 && indices[i] < size, "{}: sample index {} out of range [0, {})", what, indices[i], size);
    std::memcpy(d + i * row, s + indices[i] * row, sizeof(float) * row);
  }
}
}  // namespace

void InMemoryDataset::read(std::span<const std::int64_t> indices, Batch& out) const {
  KAON_CHECK(out.inputs.size() == inputs_.size() && out.targets.size() == targets_.size(),
             "{}: batch has the wrong number of tensors", description_);
  for (std::size_t k = 0; k < inputs_.size(); ++k) gather(inputs_[k], indices, out.inputs[k], size_, description_);
  for (std::size_t k = 0; k < targets_.size(); ++k) gather(targets_[k], indices, out.targets[k], size_, description_);
  if (weights_.defined()) gather(weights_, indices, out.weights, size_, description_);
}

SubsetDataset::SubsetDataset(const Dataset& base, std::vector<std::int64_t> indices, std::string label)
    : base_(base), indices_(std::move(indices)), label_(std::move(label)) {
  for (auto i : indices_)
    KAON_CHECK(i >= 0 && i < base_.size(), "{}: index {} outside the {} samples of {}", label_, i, base_.size(),
               base_.describe());
}

std::string SubsetDataset::describe() const { return label_ + " of " + base_.describe(); }

void SubsetDataset::read(std::span<const std::int64_t> indices, Batch& out) const {
  std::vector<std::int64_t> mapped(indices.size());
  for (std::size_t i = 0; i < indices.size(); ++i) {
    KAON_CHECK(indices[i] >= 0 && indices[i] < size(), "{}: sample index {} out of range", describe(), indices[i]);
    mapped[i] = indices_[indices[i]];
  }
  base_.read(mapped, out);
}

}  // namespace kaon::data
