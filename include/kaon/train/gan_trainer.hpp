#pragma once
// Adversarial training of the 3DGAN calorimeter-shower model (Khattak et al.; the mpi_learn /
// NNLO 3DGAN): a generator G maps latent noise multiplied by the primary energy to a shower
// image; a discriminator D has three heads on the image: a real/fake logit (binary cross-entropy
// from logits), the primary energy (MAPE) and the ECAL sum of its input (MAPE, a sum layer).
//
// One step on a batch of real showers (images x, energies E):
//   1. D on the real batch: targets flip(1), E * energyScale, sum(x)             -> D update
//   2. D on a fake batch G(z * E' * energyScale) (G in inference mode, as Keras'
//      generator.predict), E' uniform in [energyMin, energyMax]:
//      targets flip(0), E' * energyScale, samplingFraction * E'                  -> D update
//   3. generatorSteps times: G (training) through D (training mode, no parameter gradients,
//      batch-norm running statistics restored afterwards), fresh z and E':
//      targets 1, E' * energyScale, samplingFraction * E'                        -> G update
// flip() flips each label with probability labelFlip (3DGAN's bit_flip). Each head's loss is
// weighted by lossWeights. Noise, energies and flips are counter-based draws keyed by (seed,
// step, phase, position in the global batch), so N ranks splitting a global batch draw exactly
// what one rank draws; gradients of both networks are averaged by bucketed allreduce.
//
// Validation (each epoch): real showers against showers generated at the same energies, in the
// physics metrics of CaloGanMetrics (docs/calo-gan.md).
//
// Precision (TrainerOptions::precision, GPU models): both networks compute in it, with fp32
// master weights, optimizer state, losses and batch norm (nn::Model::setPrecision); showers
// leave the generator in fp32, so metrics, generated files and checkpoints are fp32. fp16 has
// one dynamic loss scaler per network: the discriminator's scales its two updates per step,
// the generator's scales the generator loss through the frozen discriminator and the generator;
// an overflow skips that network's update only (the other keeps training and its scale).
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kaon/comm/communicator.hpp"
#include "kaon/data/dataset.hpp"
#include "kaon/nn/model.hpp"
#include "kaon/optim/optimizer.hpp"
#include "kaon/train/checkpoint.hpp"
#include "kaon/train/trainer.hpp"

namespace kaon::train {

struct GanOptions {
  std::int64_t latentSize = 200;
  double energyScale = 0.01;       // 3DGAN: E / 100 GeV, for the latent factor and the energy targets
  double samplingFraction = 0.02;  // ECAL-sum target of a generated shower: fraction * E (3DGAN: 2 * E/100)
  double energyMin = 10, energyMax = 500;  // GeV: energies of generated showers in training
  std::array<double, 3> lossWeights{2.0, 0.1, 0.1};  // real/fake, energy, ECAL sum
  int generatorSteps = 2;   // generator updates per step (3DGAN: 2)
  double labelFlip = 0.05;  // probability of flipping a discriminator label
  std::vector<double> energyBins{10, 100, 200, 300, 400, 500};  // GeV: bin edges of the metrics
};

// Mean losses of one step on this rank, per head (real/fake BCE, energy MAPE, ECAL MAPE).
struct GanStepLosses {
  std::array<double, 3> real{}, fake{}, generator{};  // generator: mean over its updates
  double weighted(const std::array<double, 3>& heads, const GanOptions& o) const;
};

class GanTrainer {
 public:
  // generator: input [latent], output an image of the dataset's input shape; discriminator:
  // input that image, outputs [logit], [energy], [ECAL sum] in that order. The optimizers are
  // attached to their models. learning rates: per optimizer, by step. options: the trainer
  // section (epochs, batch per rank, checkpoints, logging); loss and metrics are not used.
  GanTrainer(nn::Model& generator, optim::Optimizer& generatorOptimizer, nn::Model& discriminator,
             optim::Optimizer& discriminatorOptimizer, std::function<double(std::int64_t)> generatorLr,
             std::function<double(std::int64_t)> discriminatorLr, const data::Dataset& train,
             const data::Dataset* validation, TrainerOptions options, GanOptions gan,
             comm::Communicator* comm = nullptr);
  ~GanTrainer();

  void resumeFrom(const std::string& checkpointPath);
  std::vector<EpochResult> fit();
  bool interrupted() const { return interrupted_; }
  // One step on a batch of real showers (inputs[0] the images, targets[0] the energies in GeV).
  GanStepLosses trainStep(const data::Batch& batch, std::int64_t globalStep);
  // The generator's loss through the frozen discriminator (both in training mode) for latent
  // [n, latent] and targets energy, ecal [n, 1] (on the models' device and dtype): leaves
  // dL/dtheta_G in the generator's gradients (averaged over ranks) and changes nothing of the
  // discriminator (no parameter gradients; its batch-norm statistics are restored). Returns the
  // unweighted head losses; L is their loss_weights-weighted sum.
  std::array<double, 3> generatorGradients(const Tensor& latent, const Tensor& energy, const Tensor& ecal,
                                           std::int64_t globalStep = 0);
  // Physics metrics of the generator (and the discriminator's energy regression) on `dataset`.
  std::map<std::string, double> evaluate(const data::Dataset& dataset);
  // Showers [N, *image] (on the host) for energies [N] (GeV), G in inference mode; noise of
  // sample i from stream `seed` at index firstIndex + i.
  Tensor generate(const Tensor& energies, std::uint64_t seed, std::int64_t firstIndex = 0);
  const TrainingProgress& progress() const { return progress_; }
  std::string checkpointPath() const;  // <dir>/checkpoint.h5
  // fp16 runs only (null otherwise): the loss scalers of the generator's and the
  // discriminator's losses. The discriminator's counts two updates per step (real, fake).
  // Mutable for callers that restore or force a scale (LossScaler::setState).
  const LossScaler* generatorLossScaler() const { return genScaler_.get(); }
  const LossScaler* discriminatorLossScaler() const { return discScaler_.get(); }
  LossScaler* generatorLossScaler() { return genScaler_.get(); }
  LossScaler* discriminatorLossScaler() { return discScaler_.get(); }

 private:
  struct Fakes;
  Fakes sampleFakes(std::int64_t n, std::uint64_t stream) const;
  std::array<double, 3> discriminatorStep(const Tensor& images, const std::array<Tensor, 3>& targets,
                                          std::int64_t globalStep);
  std::array<double, 3> generatorStep(const Fakes& fakes, std::int64_t globalStep);
  std::uint64_t streamFor(std::int64_t globalStep, int phase) const;
  void checkCompatibility(const data::Dataset& dataset) const;
  // Whether to apply the optimizer step of `model` (always, unless fp16 gradients overflowed).
  static bool applyUpdate(LossScaler* scaler, const nn::Model& model);
  NamedTensors scalerState() const;
  void writeCheckpoint();
  void synchroniseBuffers();
  std::vector<CheckpointNetwork> networks();

  nn::Model& gen_;
  optim::Optimizer& genOpt_;
  nn::Model& disc_;
  optim::Optimizer& discOpt_;
  std::function<double(std::int64_t)> genLr_, discLr_;
  const data::Dataset& train_;
  const data::Dataset* validation_;
  TrainerOptions options_;
  GanOptions gan_;
  TrainingProgress progress_;
  std::unique_ptr<comm::Communicator> ownedComm_, ownedDeviceComm_;
  comm::Communicator* comm_;
  std::unique_ptr<class GradientAllreducer> genReducer_, discReducer_;
  std::unique_ptr<LossScaler> genScaler_, discScaler_;  // fp16 only
  bool interrupted_ = false;
};

}  // namespace kaon::train
