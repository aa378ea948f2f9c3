#pragma once
// The run configuration (YAML, `version: 1`): loaded once, overrides applied, every section
// validated. Sections owned by other subsystems (model, optimizer, schedule, data) stay as
// YAML subtrees and are validated by the factories that build from them.
//
//   version: 1
//   seed: 1234          # everything random derives from it
//   threads: 0          # CPU threads per process; 0 = all cores available
//   device: cpu         # cpu | cuda (one GPU per rank) | auto (cuda when every rank sees a GPU)
//   gpu:       {share, communicator}   # optional, device cuda/auto only
//   model:     {...}    # nn::modelFromConfig
//   data:      {...}    # data::datasetsFromConfig
//   optimizer: {...}    # optim::optimizerFromConfig
//   schedule:  {...}    # optional; optim::scheduleFromConfig
//   gan:       {...}    # trainer.kind: gan only, instead of model/optimizer; train::ganFromConfig
//   trainer:   {kind, mode, epochs, batch_size | batch_per_rank, lr_scaling, bucket_mb, allreduce,
//               sync_batchnorm, precision, loss_scale, loss, metrics, shuffle, drop_last, downpour: {...}, easgd: {...},
//               checkpoint: {...}}
//   logging:   {metrics_file, log_every_steps, progress, level}
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "kaon/config/config_node.hpp"
#include "kaon/train/async_trainer.hpp"
#include "kaon/train/trainer.hpp"

namespace kaon::config {

inline constexpr int kConfigVersion = 1;

struct RunConfig {
  std::string path;        // the file it came from
  std::string text;        // the effective YAML after overrides (stored in checkpoints)
  std::uint64_t seed = 0;
  int threads = 0;
  std::string device = "cpu";         // cpu | cuda | auto (comm::selectRankDevice)
  bool gpuShare = false;              // gpu.share: several ranks of a node may use one GPU
  std::string gpuCommunicator = "auto";  // gpu.communicator: auto | nccl | mpi (GPU buffers' path)
  YAML::Node model, data, optimizer, schedule;  // schedule may be null; model/optimizer null for a GAN
  // trainer.kind: standard (one model, Trainer) | gan (train::GanTrainer; the `gan:` section
  // holds both networks and optimizers, kaon/train/gan_config.hpp).
  std::string kind = "standard";
  YAML::Node gan;
  train::TrainerOptions trainer;  // trainer.batchSize is set per rank by perRankBatch()
  std::string mode = "sync";      // sync | downpour | easgd
  bool easgdAsynchronous = false;  // easgd: master/worker (true) or allreduce every tau steps
  train::AsyncOptions async;       // downpour / asynchronous easgd settings
  // Strong scaling: batch_size is the global batch, split across ranks. Weak scaling:
  // batch_per_rank is fixed and the learning rate scales with the rank count (lr_scaling).
  bool weakScaling = false;
  std::int64_t batch = 0;          // batch_size (global) or batch_per_rank
  std::string lrScaling = "linear";  // weak scaling only: linear | sqrt | none
  std::string resume = "auto";  // auto | never | a checkpoint path
  std::string logLevel = "info";
};

// The batch each of `ranks` ranks computes; throws (naming the key) when a global batch does
// not divide among the ranks.
std::int64_t perRankBatch(const RunConfig& rc, int ranks);

// Applies `key.path=value` overrides (values parsed as YAML; list items as `layers.2.filters`
// or `layers[2].filters`) to a YAML tree. Errors name the override.
void applyOverride(YAML::Node& root, const std::string& assignment);

// Reads, overrides and validates a run config. Throws ConfigError naming the file and key.
RunConfig loadRunConfig(const std::string& path, const std::vector<std::string>& overrides = {});
RunConfig parseRunConfig(const std::string& yamlText, const std::string& sourceName,
                         const std::vector<std::string>& overrides = {});

}  // namespace kaon::config
