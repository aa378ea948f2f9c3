#include "kaon/nn/init.hpp"

#include <array>
#include <cmath>
#include <utility>

namespace kaon::nn {
namespace {

constexpr std::array<std::pair<Init, std::string_view>, 6> kInits{{
    {Init::Zeros, "zeros"},
    {Init::Ones, "ones"},
    {Init::GlorotUniform, "glorot_uniform"},
    {Init::GlorotNormal, "glorot_normal"},
    {Init::HeUniform, "he_uniform"},
    {Init::HeNormal, "he_normal"},
}};

std::pair<double, double> fans(const Shape& s) {
  if (s.rank() == 1) return {static_cast<double>(s[0]), static_cast<double>(s[0])};
  double receptive = static_cast<double>(s.count(2, s.rank()));
  return {s[1] * receptive, s[0] * receptive};
}

}  // namespace

Init initFromName(std::string_view name) {
  for (auto& [k, n] : kInits)
    if (n == name) return k;
  KAON_FAIL("unknown initialiser '{}' (expected zeros, ones, glorot_uniform, glorot_normal, he_uniform, he_normal)",
            name);
}

std::string_view initName(Init init) {
  for (auto& [k, n] : kInits)
    if (k == init) return n;
  return "invalid";
}

void initialise(const Tensor& t, Init init, std::mt19937_64& rng) {
  KAON_CHECK(t.device().isCpu(), "initialise() fills CPU tensors");
  if (init == Init::Zeros || init == Init::Ones) {
    t.fill(init == Init::Ones ? 1.0 : 0.0);
    return;
  }
  auto [fanIn, fanOut] = fans(t.shape());
  bool glorot = init == Init::GlorotUniform || init == Init::GlorotNormal;
  double variance = glorot ? 2.0 / (fanIn + fanOut) : 2.0 / fanIn;
  bool uniform = init == Init::GlorotUniform || init == Init::HeUniform;
  dispatchFloat(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto out = t.span<T>();
    if (uniform) {
      double limit = std::sqrt(3.0 * variance);
      std::uniform_real_distribution<double> d(-limit, limit);
      for (auto& v : out) v = static_cast<T>(d(rng));
    } else {
      // Truncated normal (re-draw beyond 2 sigma); 0.8796 is the std of a unit normal truncated there.
      std::normal_distribution<double> d(0.0, std::sqrt(variance) / 0.87962566103423978);
      double bound = 2.0 * std::sqrt(variance) / 0.87962566103423978;
      for (auto& v : out) {
        double x;
        do x = d(rng);
        while (std::abs(x) > bound);
        v = static_cast<T>(x);
      }
    }
  });
}

}  // namespace kaon::nn
