#include "kaon/train/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

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

void fsyncPath(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

void saveCheckpoint(const std::string& path, const nn::Model& model, const optim::Optimizer& optimizer,
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
    f.writeAttribute("forward_step", static_cast<std::int64_t>(model.forwardStep()));
    f.writeAttribute("optimizer", std::string(optimizer.name()));
    f.writeAttribute("optimizer_steps", static_cast<std::int64_t>(optimizer.stepCount()));
    f.writeAttribute("config", configText);
    f.writeAttribute("parameter_count", model.parameterCount());
    for (const auto& p : model.namedParameters()) f.writeTensor(paramPath(p.name, "model"), onHost(p.parameter->value));
    for (const auto& [name, b] : model.namedBuffers()) f.writeTensor(paramPath(name, "buffers"), onHost(b->value));
    for (const auto& [name, t] : optimizer.state()) f.writeTensor("/optimizer/" + name, onHost(t));
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

TrainingProgress loadCheckpoint(const std::string& path, nn::Model& model, optim::Optimizer& optimizer,
                                const NamedTensors& strategyState) {
  io::Hdf5File f(path, io::Hdf5File::Mode::Read);
  KAON_CHECK(f.hasAttribute("kaon_format"), "{}: not a Kaon checkpoint (no kaon_format attribute)", path);
  std::int64_t format = f.readIntAttribute("kaon_format");
  KAON_CHECK(format == kFormat, "{}: checkpoint format {} is not supported (expected {})", path, format, kFormat);
  std::string opt = f.readStringAttribute("optimizer");
  KAON_CHECK(opt == optimizer.name(), "{}: checkpoint holds {} state, the run uses {}", path, opt, optimizer.name());
  auto restore = [&](const std::string& objectPath, const Tensor& dst, const std::string& what) {
    KAON_CHECK(f.exists(objectPath), "{}: checkpoint has no {} '{}' (does the model match?)", path, what, objectPath);
    Tensor src = f.readTensor(objectPath, dst.dtype());
    KAON_CHECK(src.numel() == dst.numel(), "{}: {} '{}' has shape {}, the model has {}", path, what, objectPath,
               src.shape().str(), dst.shape().str());
    dst.copyFrom(src.reshape(dst.shape()));  // host -> wherever the model lives
  };
  for (const auto& p : model.namedParameters()) restore(paramPath(p.name, "model"), p.parameter->value, "parameter");
  std::int64_t stored = f.readIntAttribute("parameter_count");
  KAON_CHECK(stored == model.parameterCount(), "{}: checkpoint holds {} parameters, the model has {} (extra layers?)",
             path, stored, model.parameterCount());
  for (const auto& [name, b] : model.namedBuffers()) restore(paramPath(name, "buffers"), b->value, "buffer");
  for (const auto& [name, t] : optimizer.state()) restore("/optimizer/" + name, t, "optimizer state");
  for (const auto& [name, t] : strategyState) restore("/strategy/" + name, t, "strategy state");
  optimizer.setStepCount(f.readIntAttribute("optimizer_steps"));
  model.setForwardStep(static_cast<std::uint64_t>(f.readIntAttribute("forward_step")));
  TrainingProgress progress;
  progress.epoch = f.readIntAttribute("epoch");
  progress.stepInEpoch = f.readIntAttribute("step_in_epoch");
  progress.globalStep = f.readIntAttribute("global_step");
  progress.ranks = f.hasAttribute("ranks") ? f.readIntAttribute("ranks") : 1;
  progress.strategy = f.hasAttribute("strategy") ? f.readStringAttribute("strategy") : "sync";
  return progress;
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
