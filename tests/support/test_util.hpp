#pragma once
// Test helpers: seeded random tensors, normalised comparisons and finite-difference checks.
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "kaon/core/tensor.hpp"
#include "kaon/data/in_memory_dataset.hpp"
#include "kaon/nn/layer.hpp"

namespace kaon {
// Readable gtest parameter names for shapes ("[2, 3, 5]" instead of bytes).
inline void PrintTo(const Shape& s, std::ostream* os) { *os << s.str(); }
}  // namespace kaon

namespace kaon::testing {

Tensor randomTensor(const Shape& shape, std::uint64_t seed, DType dtype = DType::Float32, double lo = -1.0,
                    double hi = 1.0);
// max |a - b| / max(max |b|, 1e-12): scale-free error of a against a reference b.
double normalisedError(const Tensor& a, const Tensor& b);
::testing::AssertionResult tensorsClose(const Tensor& a, const Tensor& b, double tolerance);
#define EXPECT_TENSORS_CLOSE(a, b, tol) EXPECT_TRUE(::kaon::testing::tensorsClose((a), (b), (tol)))

// Finite-difference check of a differentiable function of several inputs (all Float64).
// forward(inputs) -> y; backward(inputs, dy) -> one gradient per input (undefined to skip).
// The scalar checked is L = sum(y * R) for a fixed random R. Returns the largest relative error.
using ForwardFn = std::function<Tensor(const std::vector<Tensor>&)>;
using BackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&, const Tensor&)>;
double maxGradientError(const ForwardFn& forward, const BackwardFn& backward, std::vector<Tensor> inputs,
                        double eps = 1e-6, std::uint64_t seed = 7);

// Gradient check of one layer (in a one-layer Float64 model): every parameter and every input.
// perSampleInputs: shapes without the batch axis. Returns the largest relative error.
double maxLayerGradientError(std::unique_ptr<nn::Layer> layer, const std::vector<Shape>& perSampleInputs,
                             std::int64_t batch, bool training = true, std::uint64_t seed = 11);

// Two classes of noisy 1x8x8 images: a bright 2x2 blob in the left (label 0) or right (label 1)
// half. Small nets learn it to > 95% in a few epochs; used by the training tests.
std::shared_ptr<data::InMemoryDataset> blobImages(std::int64_t n, std::uint64_t seed);

// Sets an environment variable for one scope, then restores it (settings Kaon reads from the
// environment when an object is created, e.g. KAON_ALLREDUCE_RING).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1);
    else unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace kaon::testing
