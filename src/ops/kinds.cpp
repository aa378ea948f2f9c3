#include "kaon/ops/kinds.hpp"

#include <array>
#include <utility>

#include "kaon/core/error.hpp"

namespace kaon::ops {
namespace {

constexpr std::array<std::pair<Activation, std::string_view>, 6> kActivations{{
    {Activation::Identity, "linear"},
    {Activation::Relu, "relu"},
    {Activation::LeakyRelu, "leaky_relu"},
    {Activation::Sigmoid, "sigmoid"},
    {Activation::Tanh, "tanh"},
    {Activation::Elu, "elu"},
}};

constexpr std::array<std::pair<LossKind, std::string_view>, 5> kLosses{{
    {LossKind::SoftmaxCrossEntropy, "softmax_cross_entropy"},
    {LossKind::BinaryCrossEntropyLogits, "binary_cross_entropy"},
    {LossKind::MeanSquaredError, "mse"},
    {LossKind::MeanAbsoluteError, "mae"},
    {LossKind::MeanAbsolutePercentageError, "mape"},
}};

template <class Table>
std::string names(const Table& table) {
  std::string s;
  for (auto& [k, n] : table) s += (s.empty() ? "" : ", ") + std::string(n);
  return s;
}

}  // namespace

bool activationGradFromOutput(Activation kind, double alpha) {
  return kind == Activation::Identity || kind == Activation::Relu || (kind == Activation::LeakyRelu && alpha >= 0.0);
}

Activation activationFromName(std::string_view name) {
  for (auto& [k, n] : kActivations)
    if (n == name) return k;
  KAON_FAIL("unknown activation '{}' (expected one of: {})", name, names(kActivations));
}

std::string_view activationName(Activation a) {
  for (auto& [k, n] : kActivations)
    if (k == a) return n;
  return "invalid";
}

LossKind lossFromName(std::string_view name) {
  for (auto& [k, n] : kLosses)
    if (n == name) return k;
  KAON_FAIL("unknown loss '{}' (expected one of: {})", name, names(kLosses));
}

std::string_view lossName(LossKind k) {
  for (auto& [kind, n] : kLosses)
    if (kind == k) return n;
  return "invalid";
}

}  // namespace kaon::ops
