#pragma once
// Gradient clipping by global norm (Pascanu et al. 2013; torch.nn.utils.clip_grad_norm_).
#include "kaon/optim/optimizer.hpp"

namespace kaon::optim {

// norm = sqrt(sum of grads^2 over the trainable ranges); frozen elements neither count nor
// change. If norm > maxNorm every trainable gradient is scaled by maxNorm / norm, so the new
// norm is maxNorm (PyTorch adds 1e-6 to the divisor; unnecessary here because norm > maxNorm > 0).
// Returns the norm before clipping, for logging.
//
// Call after gradients are complete (in a data-parallel run: after the allreduce, so that every
// rank sees the same global norm and clips identically). Throws kaon::Error when maxNorm <= 0 or
// when the norm is NaN or infinite (an exploded or corrupted gradient), naming both.
double clipGradientNorm(const Tensor& grads, const Ranges& ranges, double maxNorm);

// The global norm alone, without clipping (same contract for ranges).
double gradientNorm(const Tensor& grads, const Ranges& ranges);

}  // namespace kaon::optim
