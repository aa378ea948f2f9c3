#pragma once
// Optimizer and learning-rate schedule from the run's YAML:
//
//   optimizer:
//     type: adamw            # sgd | adam | adamw | rmsprop                       (required)
//     lr: 1.0e-3             # base learning rate, > 0                            (required)
//     weight_decay: 0.01     # >= 0; default 0, except adamw: 0.01 (torch.optim.AdamW)
//     clip_norm: 1.0         # global gradient-norm clipping, > 0; absent or 0 = off
//     # sgd:     momentum [0,1) = 0, nesterov = false (needs momentum > 0)
//     # adam(w): beta1 [0,1) = 0.9, beta2 [0,1) = 0.999, eps > 0 = 1e-7 (PyTorch: 1e-8)
//     # rmsprop: rho [0,1) = 0.9, eps > 0 = 1e-7, momentum [0,1) = 0
//   schedule:                # optional section; absent = constant lr
//     type: cosine           # constant | step | exponential | cosine (default constant)
//     warmup_epochs: 5       # or warmup_steps (not both); 0 = none
//     warmup_start_factor: 0.1   # [0, 1], default 0.1; only with a warm-up
//     # step:        step_epochs or step_steps (>= 1, required), gamma (0, 1] = 0.1
//     # exponential: decay_rate (0, 1] (required), decay_epochs or decay_steps (>= 1, required)
//     # cosine:      min_lr [0, lr] = 0, annealed over totalSteps
//
// Keys that belong to another type (`momentum` with adam) are errors naming the key; unknown
// keys are errors with a did-you-mean suggestion; out-of-range values are errors naming the key
// path. All errors are config::ConfigError.
#include <memory>

#include "kaon/config/config_node.hpp"
#include "kaon/optim/optimizer.hpp"
#include "kaon/optim/schedule.hpp"

namespace kaon::optim {

struct OptimizerSetup {
  std::unique_ptr<Optimizer> optimizer;  // not yet attached to a model
  double baseLr = 0;                     // `lr`, the input to scheduleFromConfig (after any scaling)
  double clipNorm = 0;                   // 0 = off, else the max norm for clipGradientNorm
};

// node: the `optimizer:` mapping. Calls node.finish().
OptimizerSetup optimizerFromConfig(config::ConfigNode& node);

// node: the `schedule:` mapping, or nullptr when the section is absent (=> constant baseLr).
// stepsPerEpoch converts *_epochs keys to steps (<= 0: unknown, and epoch keys are errors);
// totalSteps is the run length, needed by cosine (<= 0: unknown). Calls node->finish().
std::unique_ptr<Schedule> scheduleFromConfig(config::ConfigNode* node, double baseLr, long long stepsPerEpoch,
                                             long long totalSteps);

}  // namespace kaon::optim
