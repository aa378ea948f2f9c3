#pragma once
// Checkpoints: everything needed to continue a run exactly, in one HDF5 file readable by
// h5py. Layout (format 1):
//   /                 attrs: kaon_format=1, epoch, step_in_epoch, global_step, ranks, strategy,
//                            forward_step, optimizer, optimizer_steps, config (the effective YAML)
//   /model/<layer>/<param>        parameters, named and shaped as in the model
//   /buffers/<layer>/<buffer>     non-trainable state (batch-norm running statistics)
//   /optimizer/<state>            flat optimizer state (momentum, Adam moments, ...)
//   /strategy/<state>             training-strategy state (the EASGD center variable; the
//                                 master's counters and per-worker steps of downpour/async easgd)
// A run of several networks (the GAN's generator and discriminator) keeps each network's
// model, buffers and optimizer under its own group, with the per-network attributes
// (forward_step, optimizer, optimizer_steps, parameter_count) on that group:
//   /generator/model/<layer>/<param>, /generator/buffers/..., /generator/optimizer/...
// Files are written to "<path>.tmp-<pid>", flushed, fsync'ed and renamed over <path>, so a
// crash mid-write never damages the previous checkpoint. The file does not depend on the
// device: GPU state is copied to the host to be written and copied back on load, so a
// checkpoint of a GPU run resumes on the CPU and vice versa.
#include <cstdint>
#include <string>

#include "kaon/nn/model.hpp"
#include "kaon/optim/optimizer.hpp"

namespace kaon::train {

struct TrainingProgress {
  std::int64_t epoch = 0;        // completed epochs
  std::int64_t stepInEpoch = 0;  // batches done in the current (incomplete) epoch
  std::int64_t globalStep = 0;   // optimizer steps so far
  std::int64_t ranks = 1;        // ranks of the run that wrote it (resuming with another count warns)
  // The training strategy that wrote it: "sync", "easgd" (synchronous), "easgd-async",
  // "downpour" or "downpour-hierarchical"; files without the attribute are "sync".
  std::string strategy = "sync";
};

// Throws, naming the config keys, when a checkpoint written by `saved` is resumed by a run of
// strategy `current` (their state differs: center variable, master counters, per-worker steps).
void checkStrategyMatches(const std::string& path, const std::string& saved, const std::string& current);

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// One network of a checkpoint: group "" is the root (the single-model layout above).
struct CheckpointNetwork {
  std::string group;
  nn::Model* model;
  optim::Optimizer* optimizer;
};

void saveCheckpoint(const std::string& path, const std::vector<CheckpointNetwork>& networks,
                    const TrainingProgress& progress, const std::string& configText,
                    const NamedTensors& strategyState = {});
TrainingProgress loadCheckpoint(const std::string& path, const std::vector<CheckpointNetwork>& networks,
                                const NamedTensors& strategyState = {});

void saveCheckpoint(const std::string& path, const nn::Model& model, const optim::Optimizer& optimizer,
                    const TrainingProgress& progress, const std::string& configText,
                    const NamedTensors& strategyState = {});

// Restores model parameters, buffers, optimizer state and the model's forward step into
// already-built objects; names and shapes must match (errors name the mismatch).
// strategyState: tensors to fill from /strategy/<name> (must be present in the file).
TrainingProgress loadCheckpoint(const std::string& path, nn::Model& model, optim::Optimizer& optimizer,
                                const NamedTensors& strategyState = {});

// Optional strategy state /strategy/<name> as a CPU float64 tensor; undefined when absent
// (the fp16 loss scale: a bf16 or fp32 run's checkpoint resumes in fp16 with a fresh scale).
Tensor readOptionalState(const std::string& path, const std::string& name);

// The config text stored in a checkpoint.
std::string checkpointConfig(const std::string& path);
// The strategy that wrote a checkpoint (TrainingProgress::strategy).
std::string checkpointStrategy(const std::string& path);

}  // namespace kaon::train
