// GanTrainer: construction, the step (discriminator on real and fake, generator through the
// frozen discriminator), generation, checkpoints. The epoch loop and validation: gan_loop.cpp.
#include "kaon/train/gan_trainer.hpp"

#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <numbers>

#include "device_prefetcher.hpp"
#include "kaon/data/sampler.hpp"
#include "kaon/ops/counter_rng.hpp"
#include "kaon/ops/elementwise.hpp"
#include "kaon/ops/loss.hpp"
#include "kaon/ops/reduce.hpp"
#include "kaon/optim/clip.hpp"
#include "kaon/train/gradient_allreducer.hpp"

namespace kaon::train {
namespace {

constexpr ops::LossKind kHeadLoss[3] = {ops::LossKind::BinaryCrossEntropyLogits,
                                        ops::LossKind::MeanAbsolutePercentageError,
                                        ops::LossKind::MeanAbsolutePercentageError};

// Draw n of a stream as a uniform number in [0, 1) with 53 bits.
double uniform01(std::uint64_t stream, std::uint64_t n) {
  return static_cast<double>(ops::splitMix64At(stream, n) >> 11) * 0x1.0p-53;
}

// Standard normal draw n (Box-Muller over the draws 2n, 2n+1).
double normal(std::uint64_t stream, std::uint64_t n) {
  double u1 = 1.0 - uniform01(stream, 2 * n), u2 = uniform01(stream, 2 * n + 1);  // u1 in (0, 1]
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

// /strategy/<name> of the fp16 loss scales in a GAN checkpoint.
constexpr const char* kGenScaleState = "generator_loss_scale";
constexpr const char* kDiscScaleState = "discriminator_loss_scale";

Tensor column(const std::vector<float>& v) {
  return Tensor::fromVector(Shape{static_cast<std::int64_t>(v.size()), 1}, v);
}

// The three heads' losses (unweighted) and their gradients scaled by the loss weights.
struct HeadLosses {
  std::array<double, 3> values{};
  std::vector<Tensor> grads;
};

// scaled: an fp16 run, where a non-finite loss (an overflowing forward) is left to the loss
// scaler, which skips the update (its gradients are not finite either).
HeadLosses headLosses(const std::vector<Tensor>& out, const std::array<Tensor, 3>& targets, const GanOptions& o,
                      const nn::Model& disc, const char* network, std::int64_t globalStep, bool scaled) {
  HeadLosses h;
  for (int k = 0; k < 3; ++k) {
    ops::LossResult l = ops::loss(kHeadLoss[k], out[k], targets[k]);
    KAON_CHECK(scaled || std::isfinite(l.value), "GAN training diverged: {} loss on '{}' is {} at step {}", network,
               disc.outputNames()[k], l.value, globalStep);
    ops::scaleInPlace(l.grad, o.lossWeights[k]);
    h.values[k] = l.value;
    h.grads.push_back(l.grad);
  }
  return h;
}

}  // namespace

double GanStepLosses::weighted(const std::array<double, 3>& heads, const GanOptions& o) const {
  return o.lossWeights[0] * heads[0] + o.lossWeights[1] * heads[1] + o.lossWeights[2] * heads[2];
}

// A batch of generator inputs and the targets its showers are trained towards (host tensors).
struct GanTrainer::Fakes {
  Tensor latent;  // [n, latent] noise * E * energyScale
  Tensor energy;  // [n, 1] E * energyScale
  Tensor ecal;    // [n, 1] samplingFraction * E
};

GanTrainer::GanTrainer(nn::Model& generator, optim::Optimizer& generatorOptimizer, nn::Model& discriminator,
                       optim::Optimizer& discriminatorOptimizer, std::function<double(std::int64_t)> generatorLr,
                       std::function<double(std::int64_t)> discriminatorLr, const data::Dataset& train,
                       const data::Dataset* validation, TrainerOptions options, GanOptions gan,
                       comm::Communicator* comm)
    : gen_(generator), genOpt_(generatorOptimizer), disc_(discriminator), discOpt_(discriminatorOptimizer),
      genLr_(std::move(generatorLr)), discLr_(std::move(discriminatorLr)), train_(train), validation_(validation),
      options_(std::move(options)), gan_(std::move(gan)), comm_(comm) {
  if (!comm_) {
    ownedComm_ = comm::makeLocalCommunicator();
    comm_ = ownedComm_.get();
  }
  progress_.ranks = comm_->size();
  KAON_CHECK(gen_.built() && disc_.built(), "GAN trainer: both models must be built");
  KAON_CHECK(gen_.device() == disc_.device(), "GAN trainer: generator on {}, discriminator on {}",
             gen_.device().str(), disc_.device().str());
  KAON_CHECK(options_.epochs >= 1 && options_.batchSize >= 1, "GAN trainer: epochs and batch size must be >= 1");
  if (options_.reproducible || options_.easgd) throw NotImplemented("GAN with reproducible mode or easgd");
  KAON_CHECK(gen_.inputNames().size() == 1 && gen_.outputNames().size() == 1,
             "GAN generator: one input (latent) and one output (the shower) expected, got {} and {}",
             gen_.inputNames().size(), gen_.outputNames().size());
  KAON_CHECK(gen_.inputShapes()[0] == Shape{gan_.latentSize}, "GAN generator: input '{}' is {}, gan.latent_size is {}",
             gen_.inputNames()[0], gen_.inputShapes()[0].str(), gan_.latentSize);
  KAON_CHECK(disc_.inputNames().size() == 1 && disc_.outputNames().size() == 3,
             "GAN discriminator: one input and three outputs (real/fake logit, energy, ECAL sum) expected, got {} "
             "and {}", disc_.inputNames().size(), disc_.outputNames().size());
  KAON_CHECK(gen_.outputShapes()[0] == disc_.inputShapes()[0],
             "GAN: the generator makes showers of shape {}, the discriminator reads {}", gen_.outputShapes()[0].str(),
             disc_.inputShapes()[0].str());
  for (std::size_t h = 0; h < 3; ++h)
    KAON_CHECK(disc_.outputShapes()[h].numel() == 1, "GAN discriminator: output '{}' is {}, expected [1]",
               disc_.outputNames()[h], disc_.outputShapes()[h].str());
  KAON_CHECK(gan_.energyMax >= gan_.energyMin && gan_.energyMin > 0, "gan: energy range [{}, {}] GeV is invalid",
             gan_.energyMin, gan_.energyMax);
  KAON_CHECK(gan_.generatorSteps >= 1, "gan.generator_steps must be >= 1");
  KAON_CHECK(gan_.labelFlip >= 0 && gan_.labelFlip < 0.5, "gan.label_flip must be in [0, 0.5)");
  checkCompatibility(train_);
  if (validation_) checkCompatibility(*validation_);
  // Both networks in the run's precision (a CPU model refuses anything but fp32); fp16: one loss
  // scaler per network, each governing the backward passes of that network's loss.
  gen_.setPrecision(options_.precision);
  disc_.setPrecision(options_.precision);
  if (options_.precision == Precision::Fp16) {
    genScaler_ = std::make_unique<LossScaler>(options_.lossScale);
    discScaler_ = std::make_unique<LossScaler>(options_.lossScale);
  }
  if (comm_->size() > 1) {
    if (!comm_->supportsDevice(gen_.device())) {
      ownedDeviceComm_ = comm::makeDeviceCommunicator(*comm_, gen_.device(), comm::DeviceTransport::Auto,
                                                      options_.stallTimeoutSeconds);
      comm_ = ownedDeviceComm_.get();
    }
    // Different models or configs would train nonsense or deadlock in mismatched collectives.
    std::vector<double> mine{static_cast<double>(gen_.parameterCount()), static_cast<double>(disc_.parameterCount()),
                             static_cast<double>(std::hash<std::string>{}(options_.configText) % (1ull << 52)),
                             static_cast<double>(options_.batchSize), static_cast<double>(train_.size())};
    const char* what[] = {"generator parameter count", "discriminator parameter count", "config", "per-rank batch",
                          "training set size"};
    for (std::size_t k = 0; k < mine.size(); ++k) {
      std::vector<double> all = comm_->allgather(mine[k]);
      for (int r = 1; r < comm_->size(); ++r)
        KAON_CHECK(all[r] == all[0], "ranks disagree on the {}: rank 0 has {}, rank {} has {}", what[k], all[0], r,
                   all[r]);
    }
    const auto rank = static_cast<std::uint64_t>(comm_->rank());
    gen_.setStochasticSeed(data::splitmix64(options_.seed ^ (0x6E4ull + rank)));
    disc_.setStochasticSeed(data::splitmix64(options_.seed ^ (0xD15ull + rank)));
    for (nn::Model* m : {&gen_, &disc_}) {
      comm_->broadcast(m->parameters(), 0);
      if (m->buffers().numel() > 0) comm_->broadcast(m->buffers(), 0);
    }
    if (options_.synchroniseGradients) {
      genReducer_ = std::make_unique<GradientAllreducer>(gen_, *comm_, options_.bucketBytes, options_.allreduce);
      discReducer_ = std::make_unique<GradientAllreducer>(disc_, *comm_, options_.bucketBytes, options_.allreduce);
    }
  }
}

GanTrainer::~GanTrainer() = default;

void GanTrainer::checkCompatibility(const data::Dataset& d) const {
  KAON_CHECK(d.size() > 0, "{}: the dataset is empty", d.describe());
  auto in = d.inputShapes();
  KAON_CHECK(in.size() == 1 && in[0] == disc_.inputShapes()[0],
             "{}: showers have shape {}, the discriminator expects {}", d.describe(),
             in.empty() ? "none" : in[0].str(), disc_.inputShapes()[0].str());
  auto t = d.targetShapes();
  KAON_CHECK(t.size() == 1 && t[0].numel() == 1, "{}: expected the primary energy as the one target, got {} targets",
             d.describe(), t.size());
}

std::uint64_t GanTrainer::streamFor(std::int64_t globalStep, int phase) const {
  return data::splitmix64(options_.seed ^ data::splitmix64(static_cast<std::uint64_t>(globalStep) * 64 + phase + 1));
}

GanTrainer::Fakes GanTrainer::sampleFakes(std::int64_t n, std::uint64_t stream) const {
  // Sample j of this rank is position j * W + r of the global batch (the strided shards of
  // ShardedSampler), so every rank count draws the same global batch.
  const std::int64_t L = gan_.latentSize, W = comm_->size(), r = comm_->rank();
  std::vector<float> latent(static_cast<std::size_t>(n * L)), energy(n), ecal(n);
  for (std::int64_t j = 0; j < n; ++j) {
    const auto k = static_cast<std::uint64_t>(j * W + r);
    const double e = gan_.energyMin + (gan_.energyMax - gan_.energyMin) * uniform01(stream, k);
    energy[j] = static_cast<float>(e * gan_.energyScale);
    ecal[j] = static_cast<float>(e * gan_.samplingFraction);
    for (std::int64_t i = 0; i < L; ++i)
      latent[j * L + i] = static_cast<float>(normal(stream ^ 0x5A5Aull, k * L + i) * e * gan_.energyScale);
  }
  const Device dev = gen_.device();
  return {Tensor::fromVector(Shape{n, L}, latent).to(dev), column(energy).to(dev), column(ecal).to(dev)};
}

bool GanTrainer::applyUpdate(LossScaler* scaler, const nn::Model& model) {
  // fp16: gradients with inf/nan (the same on every rank after the allreduce) skip this
  // network's update only, and halve its scale; the other network's scaler is not touched.
  return !scaler || scaler->update(std::isfinite(ops::sumSquares(model.gradients())));
}

std::array<double, 3> GanTrainer::discriminatorStep(const Tensor& images, const std::array<Tensor, 3>& targets,
                                                    std::int64_t globalStep) {
  if (discScaler_) disc_.setGradientScale(discScaler_->scale());
  HeadLosses h = headLosses(disc_.forwardMulti({images}, true), targets, gan_, disc_, "discriminator", globalStep,
                            discScaler_ != nullptr);
  disc_.zeroGrad();
  if (discReducer_) discReducer_->beginBackward();
  disc_.backwardMulti(h.grads);
  if (discReducer_) discReducer_->finishBackward();
  if (!applyUpdate(discScaler_.get(), disc_)) return h.values;
  if (options_.clipNorm > 0) optim::clipGradientNorm(disc_.gradients(), disc_.trainableRanges(), options_.clipNorm);
  discOpt_.step(discLr_(globalStep));
  return h.values;
}

std::array<double, 3> GanTrainer::generatorGradients(const Tensor& latent, const Tensor& energy, const Tensor& ecal,
                                                     std::int64_t globalStep) {
  // The discriminator is frozen: no parameter gradients, and the running statistics its
  // batch-norm layers update in training mode are put back afterwards.
  Tensor discBuffers = disc_.buffers().numel() > 0 ? disc_.buffers().clone() : Tensor();
  // fp16: the generator's loss is scaled by the generator's scale through both networks (the
  // discriminator hands dL/dimages back unscaled in fp32, the generator scales it again), so an
  // overflow anywhere on this path skips the generator's update and backs off its scale only.
  const double discScale = disc_.gradientScale();
  if (genScaler_) {
    gen_.setGradientScale(genScaler_->scale());
    disc_.setGradientScale(genScaler_->scale());
  }
  Tensor images = gen_.forward(latent, true);
  std::vector<Tensor> out = disc_.forwardMulti({images}, true);
  // The "trick" of 3DGAN: the generator wants the discriminator to say "real".
  Tensor real = Tensor::full(Shape{images.dim(0), 1}, 1.0, out[0].dtype()).to(gen_.device());
  HeadLosses h = headLosses(out, {real, energy, ecal}, gan_, disc_, "generator", globalStep, genScaler_ != nullptr);
  std::vector<Tensor> dImages = disc_.backwardMulti(h.grads, {.accumulateParamGrads = false, .wantInputGrads = true});
  disc_.setGradientScale(discScale);
  if (discBuffers.defined()) disc_.buffers().copyFrom(discBuffers);
  gen_.zeroGrad();
  if (genReducer_) genReducer_->beginBackward();
  gen_.backward(dImages[0]);
  if (genReducer_) genReducer_->finishBackward();
  return h.values;
}

std::array<double, 3> GanTrainer::generatorStep(const Fakes& f, std::int64_t globalStep) {
  std::array<double, 3> losses = generatorGradients(f.latent, f.energy, f.ecal, globalStep);
  if (!applyUpdate(genScaler_.get(), gen_)) return losses;
  if (options_.clipNorm > 0) optim::clipGradientNorm(gen_.gradients(), gen_.trainableRanges(), options_.clipNorm);
  genOpt_.step(genLr_(globalStep));
  return losses;
}

GanStepLosses GanTrainer::trainStep(const data::Batch& anyBatch, std::int64_t globalStep) {
  const data::Batch batch = batchOnDevice(anyBatch, gen_.device());
  const Tensor& images = batch.inputs[0];
  const std::int64_t n = images.dim(0), W = comm_->size(), r = comm_->rank();
  // Real batch: labels 1 (flipped with probability labelFlip), E * scale, the images' own sums.
  const std::uint64_t flips = streamFor(globalStep, 0);
  std::vector<float> realLabel(n), fakeLabel(n), energy(n);
  const Tensor hostEnergy = anyBatch.targets[0].device().isCpu() ? anyBatch.targets[0]
                                                                 : anyBatch.targets[0].to(Device::cpu());
  for (std::int64_t j = 0; j < n; ++j) {
    const auto k = static_cast<std::uint64_t>(j * W + r);
    realLabel[j] = uniform01(flips, 2 * k) < gan_.labelFlip ? 0.0f : 1.0f;
    fakeLabel[j] = uniform01(flips, 2 * k + 1) < gan_.labelFlip ? 1.0f : 0.0f;
    energy[j] = static_cast<float>(hostEnergy.item(j) * gan_.energyScale);
  }
  const Device dev = gen_.device();
  const Tensor ecal = ops::sumAxes(images, 1, images.rank() - 1).reshape(Shape{n, 1});
  GanStepLosses losses;
  losses.real = discriminatorStep(images, {column(realLabel).to(dev), column(energy).to(dev), ecal}, globalStep);
  // Fake batch: the generator in inference mode (Keras' generator.predict in 3DGAN).
  Fakes f = sampleFakes(n, streamFor(globalStep, 1));
  Tensor fake = gen_.forward(f.latent, false);
  losses.fake = discriminatorStep(fake, {column(fakeLabel).to(dev), f.energy, f.ecal}, globalStep);
  for (int g = 0; g < gan_.generatorSteps; ++g) {
    std::array<double, 3> l = generatorStep(sampleFakes(n, streamFor(globalStep, 2 + g)), globalStep);
    for (int h = 0; h < 3; ++h) losses.generator[h] += l[h] / gan_.generatorSteps;
  }
  return losses;
}

Tensor GanTrainer::generate(const Tensor& energies, std::uint64_t seed, std::int64_t firstIndex) {
  const std::int64_t n = energies.numel(), L = gan_.latentSize;
  const Tensor e = energies.device().isCpu() ? energies : energies.to(Device::cpu());
  std::vector<float> latent(static_cast<std::size_t>(n * L));
  const std::uint64_t stream = data::splitmix64(seed ^ 0x6E6E7261ull);
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t i = 0; i < L; ++i)
      latent[j * L + i] = static_cast<float>(normal(stream, static_cast<std::uint64_t>((firstIndex + j) * L + i)) *
                                             e.item(j) * gan_.energyScale);
  Tensor images = gen_.forward(Tensor::fromVector(Shape{n, L}, latent).to(gen_.device()), false);
  gen_.releaseSaved();
  return images.device().isCpu() ? images : images.to(Device::cpu());
}

std::vector<CheckpointNetwork> GanTrainer::networks() {
  return {{"generator", &gen_, &genOpt_}, {"discriminator", &disc_, &discOpt_}};
}

std::string GanTrainer::checkpointPath() const {
  return options_.checkpointDir.empty() ? ""
                                        : (std::filesystem::path(options_.checkpointDir) / "checkpoint.h5").string();
}

void GanTrainer::synchroniseBuffers() {
  // Batch-norm running statistics drift apart on different shards: average them.
  if (comm_->size() < 2) return;
  for (nn::Model* m : {&gen_, &disc_})
    if (m->buffers().numel() > 0) comm_->allreduce(m->buffers(), comm::ReduceOp::Average);
}

void GanTrainer::writeCheckpoint() {
  if (options_.checkpointDir.empty()) return;
  synchroniseBuffers();
  if (comm_->rank() == 0) saveCheckpoint(checkpointPath(), networks(), progress_, options_.configText, scalerState());
  comm_->barrier();  // nobody runs ahead of a checkpoint that may still fail
}

NamedTensors GanTrainer::scalerState() const {
  NamedTensors s;
  if (genScaler_) s.emplace_back(kGenScaleState, genScaler_->state());
  if (discScaler_) s.emplace_back(kDiscScaleState, discScaler_->state());
  return s;
}

void GanTrainer::resumeFrom(const std::string& path) {
  // Weights are stored as fp32 masters whatever the precision, so any precision resumes any
  // checkpoint; an fp16 run resuming a file without scales (fp32/bf16 runs) starts fresh ones.
  progress_ = loadCheckpoint(path, networks());
  for (auto [scaler, name] : {std::pair{genScaler_.get(), kGenScaleState}, {discScaler_.get(), kDiscScaleState}}) {
    if (!scaler) continue;
    Tensor st = readOptionalState(path, name);
    if (st.defined()) scaler->setState(st);
  }
  progress_.ranks = comm_->size();
  if (comm_->rank() == 0)
    spdlog::info("resumed the GAN from {}: epoch {}, step {} of the epoch, {} steps in total", path, progress_.epoch,
                 progress_.stepInEpoch, progress_.globalStep);
}

}  // namespace kaon::train
