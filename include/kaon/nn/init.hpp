#pragma once
// Parameter initialisers (Keras names). Fan-in/fan-out follow Keras/PyTorch: for a weight
// [out, in, *kernel], fan_in = in * prod(kernel), fan_out = out * prod(kernel).
#include <random>
#include <string_view>

#include "kaon/core/tensor.hpp"

namespace kaon::nn {

enum class Init { Zeros, Ones, GlorotUniform, GlorotNormal, HeUniform, HeNormal };

Init initFromName(std::string_view name);  // "zeros", "ones", "glorot_uniform", ...
std::string_view initName(Init init);
// Fills a CPU tensor; normal variants are truncated at 2 sigma like Keras.
void initialise(const Tensor& t, Init init, std::mt19937_64& rng);

}  // namespace kaon::nn
