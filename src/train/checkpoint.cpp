#include "kaon/train/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>

#include "../io/hdf5_file.hpp"

namespace kaon::train {
namespace {

constexpr std::int64_t kFormat = 1;

std::string paramPath(const std::string& dotted, const char* root) {
  // "conv1.weight" -> "/model/conv1/weight"
  std::string p = std::string("/") + root + "/" + dotted;
  std::size_t dot = p.rfind('.');
  if (dot != std::string::npos) p[dot] = '/';
  return p;
}

// GPU state (a model, optimizer or strategy on a GPU) is written from a host copy; the file is
// the same whichever device wrote it, so a run resumes on any device.
Tensor onHost(const Tensor& t) { return t.device().isCpu() ? t : t.to(Device::cpu()); }

// The fp32 master value of a parameter (a mixed-precision model's layers hold a bf16/fp16
// copy): checkpoints always store and restore fp32 weights.
Tensor masterValue(const nn::Model& model, const nn::Model::NamedParameter& p) {
  const std::int64_t n = p.parameter->shape.numel();
  return model.parameters().slice(p.parameter->offset, p.parameter->offset + n).reshape(p.parameter->shape);
}

void fsyncPath(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

namespace {

// "/" for the root network, "/<group>" otherwise; objects below it are "<base>model/...".
std::string groupPath(const std::string& group) { return group.empty() ? "/" : "/" + group; }
std::string objectRoot(const std::string& group, const char* kind) {
  return group.empty() ? kind : group + "/" + kind;
}
// "/optimizer/<state>" or "/<group>/optimizer/<state>" (built with fmt: GCC 12 warns falsely
// (-Wrestrict) on chained std::string additions here).
std::string optimizerPath(const std::string& group, const std::string& state) {
  return fmt::format("/{}/{}", objectRoot(group, "optimizer"), state);
}

void writeNetwork(io::Hdf5File& f, const CheckpointNetwork& n) {
  const nn::Model& model = *n.model;
  for (const auto& p : model.namedParameters())
    f.writeTensor(paramPath(p.name, objectRoot(n.group, "model").c_str()), onHost(masterValue(model, p)));
  for (const auto& [name, b] : model.namedBuffers())
    f.writeTensor(paramPath(name, objectRoot(n.group, "buffers").c_str()), onHost(b->value));
  for (const auto& [name, t] : n.optimizer->state())
    f.writeTensor(optimizerPath(n.group, name), onHost(t));
  const std::string at = groupPath(n.group);  // exists now: the network has parameters
  f.writeAttribute("forward_step", static_cast<std::int64_t>(model.forwardStep()), at);
  f.writeAttribute("optimizer", std::string(n.optimizer->name()), at);
  f.writeAttribute("optimizer_steps", static_cast<std::int64_t>(n.optimizer->stepCount()), at);
  f.writeAttribute("parameter_count", model.parameterCount(), at);
}

void readNetwork(const io::Hdf5File& f, const std::string& path, const CheckpointNetwork& n) {
  nn::Model& model = *n.model;
  optim::Optimizer& optimizer = *n.optimizer;
  const std::string at = groupPath(n.group);
  const std::string label = n.group.empty() ? std::string() : " of the " + n.group;
  KAON_CHECK((n.group.empty() || f.exists(at)) && f.hasAttribute("optimizer", at), "{}: checkpoint has no network '{}'", path, n.group);
  std::string opt = f.readStringAttribute("optimizer", at);
  KAON_CHECK(opt == optimizer.name(), "{}: checkpoint holds {} state{}, the run uses {}", path, opt, label,
             optimizer.name());
  auto restore = [&](const std::string& objectPath, const Tensor& dst, const std::string& what) {
    KAON_CHECK(f.exists(objectPath), "{}: checkpoint has no {} '{}' (does the model match?)", path, what, objectPath);
    Tensor src = f.readTensor(objectPath, dst.dtype());
    KAON_CHECK(src.numel() == dst.numel(), "{}: {} '{}' has shape {}, the model has {}", path, what, objectPath,
               src.shape().str(), dst.shape().str());
    dst.copyFrom(src.reshape(dst.shape()));  // host -> wherever the model lives
  };
  for (const auto& p : model.namedParameters())
    restore(paramPath(p.name, objectRoot(n.group, "model").c_str()), masterValue(model, p), "parameter");
  std::int64_t stored = f.readIntAttribute("parameter_count", at);
  KAON_CHECK(stored == model.parameterCount(), "{}: checkpoint holds {} parameters{}, the model has {} (extra layers?)",
             path, stored, label, model.parameterCount());
  for (const auto& [name, b] : model.namedBuffers())
    restore(paramPath(name, objectRoot(n.group, "buffers").c_str()), b->value, "buffer");
  for (const auto& [name, t] : optimizer.state())
    restore(optimizerPath(n.group, name), t, "optimizer state");
  optimizer.setStepCount(f.readIntAttribute("optimizer_steps", at));
  model.setForwardStep(static_cast<std::uint64_t>(f.readIntAttribute("forward_step", at)));
}

}  // namespace

void saveCheckpoint(const std::string& path, const std::vector<CheckpointNetwork>& networks,
                    const TrainingProgress& progress, const std::string& configText,
                    const NamedTensors& strategyState) {
  namespace fs = std::filesystem;
  fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  try {
    io::Hdf5File f(tmp, io::Hdf5File::Mode::Truncate);
    f.writeAttribute("kaon_format", kFormat);
    f.writeAttribute("epoch", progress.epoch);
    f.writeAttribute("step_in_epoch", progress.stepInEpoch);
    f.writeAttribute("global_step", progress.globalStep);
    f.writeAttribute("ranks", progress.ranks);
    f.writeAttribute("strategy", progress.strategy);
    f.writeAttribute("config", configText);
    for (const auto& n : networks) writeNetwork(f, n);
    for (const auto& [name, t] : strategyState) f.writeTensor("/strategy/" + name, onHost(t));
    f.flush();
    f.close();
    fsyncPath(tmp);
    fs::rename(tmp, target);
    if (target.has_parent_path()) fsyncPath(target.parent_path().string());
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);  // never leave a half-written file behind
    throw;
  }
}

void checkStrategyMatches(const std::string& path, const std::string& saved, const std::string& current) {
  KAON_CHECK(saved == current,
             "{}: the checkpoint was written by a '{}' run, this run is '{}' (trainer.mode, trainer.easgd.asynchronous, "
             "trainer.downpour.masters must match to resume; trainer.checkpoint.resume=never starts afresh)",
             path, saved, current);
}

TrainingProgress loadCheckpoint(const std::string& path, const std::vector<CheckpointNetwork>& networks,
                                const NamedTensors& strategyState) {
  io::Hdf5File f(path, io::Hdf5File::Mode::Read);
  KAON_CHECK(f.hasAttribute("kaon_format"), "{}: not a Kaon checkpoint (no kaon_format attribute)", path);
  std::int64_t format = f.readIntAttribute("kaon_format");
  KAON_CHECK(format == kFormat, "{}: checkpoint format {} is not supported (expected {})", path, format, kFormat);
  for (const auto& n : networks) readNetwork(f, path, n);
  for (const auto& [name, t] : strategyState) {
    const std::string objectPath = "/strategy/" + name;
    KAON_CHECK(f.exists(objectPath), "{}: checkpoint has no strategy state '{}'", path, objectPath);
    Tensor src = f.readTensor(objectPath, t.dtype());
    KAON_CHECK(src.numel() == t.numel(), "{}: strategy state '{}' has shape {}, the run has {}", path, objectPath,
               src.shape().str(), t.shape().str());
    t.copyFrom(src.reshape(t.shape()));
  }
  TrainingProgress progress;
  progress.epoch = f.readIntAttribute("epoch");
  progress.stepInEpoch = f.readIntAttribute("step_in_epoch");
  progress.globalStep = f.readIntAttribute("global_step");
  progress.ranks = f.hasAttribute("ranks") ? f.readIntAttribute("ranks") : 1;
  progress.strategy = f.hasAttribute("strategy") ? f.readStringAttribute("strategy") : "sync";
  return progress;
}

void saveCheckpoint(const std::string& path, const nn::Model& model, const optim::Optimizer& optimizer,
                    const TrainingProgress& progress, const std::string& configText,
                    const NamedTensors& strategyState) {
  // The single-model layout is the root network; nothing is written through the pointers.
  saveCheckpoint(path, {{"", const_cast<nn::Model*>(&model), const_cast<optim::Optimizer*>(&optimizer)}}, progress,
                 configText, strategyState);
}

TrainingProgress loadCheckpoint(const std::string& path, nn::Model& model, optim::Optimizer& optimizer,
                                const NamedTensors& strategyState) {
  return loadCheckpoint(path, {{"", &model, &optimizer}}, strategyState);
}

Tensor readOptionalState(const std::string& path, const std::string& name) {
  io::Hdf5File f(path, io::Hdf5File::Mode::Read);
  const std::string object = "/strategy/" + name;
  return f.exists(object) ? f.readTensor(object, DType::Float64) : Tensor();
}

std::string checkpointStrategy(const std::string& path) {
  io::Hdf5File f(path, io::Hdf5File::Mode::Read);
  return f.hasAttribute("strategy") ? f.readStringAttribute("strategy") : "sync";
}

std::string checkpointConfig(const std::string& path) {
  io::Hdf5File f(path, io::Hdf5File::Mode::Read);
  return f.readStringAttribute("config");
}

}  // namespace kaon::train
