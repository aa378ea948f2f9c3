#include "kaon/config/run_config.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>

#include "kaon/ops/kinds.hpp"
#include "kaon/train/metrics.hpp"

namespace kaon::config {
namespace {

// "a.b[2].c" -> {"a", "b", "2", "c"}
std::vector<std::string> splitKeyPath(const std::string& path) {
  std::string normalised = std::regex_replace(path, std::regex(R"(\[(\d+)\])"), ".$1");
  std::vector<std::string> parts;
  std::stringstream ss(normalised);
  for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
  return parts;
}

bool isIndex(const std::string& s) { return !s.empty() && std::all_of(s.begin(), s.end(), ::isdigit); }

void readTrainer(ConfigNode& node, RunConfig& rc) {
  train::TrainerOptions& t = rc.trainer;
  rc.mode = node.getChoice("mode", {"sync", "downpour", "easgd"}, std::string("sync"));
  rc.kind = node.getChoice("kind", {"standard", "gan"}, std::string("standard"));
  const bool gan = rc.kind == "gan";
  if (gan && rc.mode != "sync") throw NotImplemented("GAN with mode " + rc.mode);
  if (auto d = node.findChild("downpour")) {
    if (rc.mode != "downpour") d->fail("applies to trainer.mode: downpour only");
    rc.async.pullEvery = d->getOr<int>("pull_every", 1);
    if (rc.async.pullEvery < 1) d->failKey("pull_every", "must be >= 1");
    rc.async.stalenessScaledLr = d->getOr<bool>("staleness_lr", false);
    rc.async.masters = d->getOr<int>("masters", 1);
    if (rc.async.masters < 1) d->failKey("masters", "must be >= 1 (1: one master; k > 1: top master + k sub-masters)");
    rc.async.exchangeEvery = d->getOr<int>("exchange_every", 8);
    if (rc.async.exchangeEvery < 1) d->failKey("exchange_every", "must be >= 1");
    if (d->has("exchange_every") && rc.async.masters == 1)
      d->failKey("exchange_every", "applies to hierarchical downpour (masters > 1) only");
    d->finish();
  }
  if (auto e = node.findChild("easgd")) {
    if (rc.mode != "easgd") e->fail("applies to trainer.mode: easgd only");
    rc.async.tau = e->getOr<int>("tau", 4);
    if (rc.async.tau < 1) e->failKey("tau", "must be >= 1");
    rc.async.alpha = e->getOr<double>("alpha", 0.0);
    if (rc.async.alpha < 0 || rc.async.alpha >= 1) e->failKey("alpha", "must be in (0, 1); omit for 0.9 / workers");
    rc.easgdAsynchronous = e->getOr<bool>("asynchronous", false);
    e->finish();
  }
  rc.async.mode = rc.mode == "easgd" ? train::AsyncOptions::Mode::Easgd : train::AsyncOptions::Mode::Downpour;
  rc.trainer.easgd = rc.mode == "easgd" && !rc.easgdAsynchronous;
  rc.trainer.easgdTau = rc.async.tau;
  rc.trainer.easgdAlpha = rc.async.alpha;
  t.epochs = node.get<int>("epochs");
  if (t.epochs < 1) node.failKey("epochs", "must be >= 1");
  bool global = node.has("batch_size"), perRank = node.has("batch_per_rank");
  if (global == perRank)
    node.fail(global ? "give batch_size (global batch, strong scaling) or batch_per_rank (weak scaling), not both"
                     : "missing batch_size (global batch, strong scaling) or batch_per_rank (weak scaling)");
  rc.weakScaling = perRank;
  const char* batchKey = perRank ? "batch_per_rank" : "batch_size";
  rc.batch = node.get<long long>(batchKey);
  if (rc.batch < 1) node.failKey(batchKey, "must be >= 1");
  t.batchSize = rc.batch;
  if (perRank) rc.lrScaling = node.getChoice("lr_scaling", {"linear", "sqrt", "none"}, std::string("linear"));
  else if (node.has("lr_scaling")) node.failKey("lr_scaling", "applies to weak scaling (batch_per_rank) only");
  t.reproducible = node.getOr<bool>("reproducible", false);
  if (t.reproducible) {
    if (rc.mode != "sync") node.failKey("reproducible", "applies to trainer.mode: sync only");
    if (perRank) node.failKey("reproducible", "needs a fixed global batch (batch_size), not batch_per_rank");
    t.microBatch = node.get<long long>("micro_batch");
    if (t.microBatch < 1 || rc.batch % t.microBatch != 0)
      node.failKey("micro_batch", "must divide trainer.batch_size (" + std::to_string(rc.batch) + ")");
  } else if (node.has("micro_batch")) {
    node.failKey("micro_batch", "applies with trainer.reproducible: true only");
  }
  t.precision = precisionFromName(node.getChoice("precision", {"fp32", "tf32", "bf16", "fp16"}, std::string("fp32")));
  if (t.precision != Precision::Fp32 && rc.device == "cpu")
    node.failKey("precision", fmt::format("{} needs a GPU (device: cuda or auto); a CPU model trains in fp32 only",
                                          precisionName(t.precision)));
  if (t.precision != Precision::Fp32 && rc.mode != "sync")
    node.failKey("precision", "not implemented: precision other than fp32 for trainer.mode " + rc.mode);
  if (auto ls = node.findChild("loss_scale")) {
    if (t.precision != Precision::Fp16) ls->fail("applies to trainer.precision: fp16 only");
    t.lossScale.initialScale = ls->getOr<double>("initial", 65536.0);
    if (!(t.lossScale.initialScale > 0)) ls->failKey("initial", "must be > 0");
    t.lossScale.growthInterval = ls->getOr<long long>("growth_interval", 2000);
    if (t.lossScale.growthInterval < 1) ls->failKey("growth_interval", "must be >= 1");
    ls->finish();
  }
  t.syncBatchNorm = node.getOr<bool>("sync_batchnorm", false);
  if (t.syncBatchNorm && rc.mode != "sync")
    node.failKey("sync_batchnorm", "applies to trainer.mode: sync only (downpour/easgd workers normalise alone)");
  if (t.syncBatchNorm && t.reproducible)
    node.failKey("sync_batchnorm", "cannot be combined with trainer.reproducible (micro-batches normalise alone)");
  t.stallTimeoutSeconds = node.getOr<double>("stall_timeout", 600.0);
  if (t.stallTimeoutSeconds < 0) node.failKey("stall_timeout", "must be >= 0 seconds (0 disables)");
  if (node.has("bucket_mb")) {  // unset: by device, 1 MB for host gradients, 25 MB on GPUs
    double bucketMb = node.get<double>("bucket_mb");
    if (!(bucketMb > 0)) node.failKey("bucket_mb", "must be > 0");
    t.bucketBytes = std::max<std::size_t>(1, static_cast<std::size_t>(bucketMb * (1 << 20)));
  }
  t.allreduce = train::allreduceModeFromName(node.getChoice("allreduce", {"thread", "nonblocking"}, std::string("thread")));
  if (node.has("allreduce") && rc.mode != "sync")
    node.failKey("allreduce", "applies to trainer.mode: sync only (downpour/easgd exchange weights point to point)");
  if (gan) {
    // The GAN's losses are fixed per head (gan.loss_weights); its metrics are the physics ones.
    for (const char* key : {"loss", "metrics"})
      if (node.has(key)) node.failKey(key, "applies to trainer.kind: standard only (a GAN sets gan.loss_weights)");
    if (t.reproducible) node.failKey("reproducible", "not implemented for trainer.kind: gan");
    if (t.syncBatchNorm) node.failKey("sync_batchnorm", "not implemented for trainer.kind: gan");
  } else {
    t.loss = ops::lossFromName(node.getChoice(
        "loss", {"softmax_cross_entropy", "binary_cross_entropy", "mse", "mae", "mape"}));
  }
  t.metrics = gan ? std::vector<std::string>{} : node.getOr<std::vector<std::string>>("metrics", {});
  const std::vector<std::string>& valid = train::MetricAccumulator::namesFor(t.loss);
  for (const auto& m : t.metrics) {
    if (std::find(valid.begin(), valid.end(), m) != valid.end()) continue;
    const std::string near = closestMatch(m, valid);
    node.failKey("metrics", fmt::format("metric '{}' does not apply to loss {} (expected one of: {}){}", m,
                                        ops::lossName(t.loss), fmt::join(valid, ", "),
                                        near.empty() ? "" : "; did you mean '" + near + "'?"));
  }
  t.shuffle = node.getOr<bool>("shuffle", true);
  t.dropLastBatch = node.getOr<bool>("drop_last", false);
  if (auto ck = node.findChild("checkpoint")) {
    t.checkpointDir = ck->get<std::string>("dir");
    t.checkpointEveryEpochs = ck->getOr<int>("every_epochs", 1);
    t.checkpointEverySteps = ck->getOr<long long>("every_steps", 0);
    t.checkpointEveryMinutes = ck->getOr<double>("every_minutes", 0.0);
    if (t.checkpointEveryMinutes < 0) ck->failKey("every_minutes", "must be >= 0");
    if (t.checkpointEveryEpochs < 0) ck->failKey("every_epochs", "must be >= 0");
    if (t.checkpointEverySteps < 0) ck->failKey("every_steps", "must be >= 0");
    rc.resume = ck->getOr<std::string>("resume", "auto");
    ck->finish();
  }
  node.finish();
}

void readGpu(ConfigNode& node, RunConfig& rc) {
  if (rc.device == "cpu") node.fail("applies to device: cuda or auto only (device is cpu)");
  rc.gpuShare = node.getOr<bool>("share", false);
  rc.gpuCommunicator = node.getChoice("communicator", {"auto", "nccl", "mpi"}, std::string("auto"));
  if (rc.gpuShare && rc.gpuCommunicator == "nccl")
    node.failKey("communicator", "nccl needs one GPU per rank; with share: true use auto or mpi");
  node.finish();
}

void readLogging(ConfigNode& node, RunConfig& rc) {
  rc.trainer.metricsFile = node.getOr<std::string>("metrics_file", "");
  if (!rc.trainer.metricsFile.empty() && !rc.trainer.metricsFile.ends_with(".csv") &&
      !rc.trainer.metricsFile.ends_with(".jsonl"))
    node.failKey("metrics_file", "must end in .csv or .jsonl");
  rc.trainer.logEverySteps = node.getOr<int>("log_every_steps", 50);
  if (rc.trainer.logEverySteps < 1) node.failKey("log_every_steps", "must be >= 1");
  rc.trainer.progress = node.getOr<bool>("progress", true);
  rc.logLevel = node.getChoice("level", {"trace", "debug", "info", "warn", "error"}, std::string("info"));
  node.finish();
}

}  // namespace

std::int64_t perRankBatch(const RunConfig& rc, int ranks) {
  if (rc.weakScaling) return rc.batch;
  if (rc.batch % ranks != 0)
    throw ConfigError(fmt::format("{}: trainer.batch_size {} (the global batch) does not divide among {} ranks; "
                                  "choose a multiple of {} or use trainer.batch_per_rank",
                                  rc.path, rc.batch, ranks, ranks));
  return rc.batch / ranks;
}

void applyOverride(YAML::Node& root, const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set '" + assignment + "': expected key.path=value");
  std::string key = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  YAML::Node parsed;
  try {
    parsed = YAML::Load(value);
  } catch (const YAML::Exception& e) {
    throw ConfigError("--set '" + assignment + "': value is not valid YAML: " + e.msg);
  }
  std::vector<std::string> parts = splitKeyPath(key);
  // Walk with raw node handles: yaml-cpp nodes are references, so assigning through a copy
  // of the handle edits the tree.
  YAML::Node node = root;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    bool last = i + 1 == parts.size();
    if (p.empty()) throw ConfigError("--set '" + assignment + "': empty key segment");
    if (node.IsSequence()) {
      if (!isIndex(p) || std::stoul(p) >= node.size())
        throw ConfigError("--set '" + assignment + "': '" + p + "' is not an index of the list at this position (size " +
                          std::to_string(node.size()) + ")");
      if (last) node[std::stoul(p)] = parsed;
      else node.reset(node[std::stoul(p)]);
    } else {
      if (node.IsScalar())
        throw ConfigError("--set '" + assignment + "': '" + parts[i - 1] + "' holds a value, not a mapping");
      if (last) node[p] = parsed;
      else {
        if (!node[p]) node[p] = YAML::Node(YAML::NodeType::Map);
        node.reset(node[p]);
      }
    }
  }
}

RunConfig parseRunConfig(const std::string& yamlText, const std::string& source,
                         const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::Load(yamlText);
  } catch (const YAML::Exception& e) {
    throw ConfigError(source + ": invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) throw ConfigError(source + ": the config must be a YAML mapping of sections");
  for (const auto& o : overrides) applyOverride(root, o);
  RunConfig rc;
  rc.path = source;
  YAML::Emitter out;
  out << root;
  rc.text = out.c_str();
  ConfigNode top(root, "", source);
  int version = top.get<int>("version");
  if (version != kConfigVersion)
    top.failKey("version", "config version " + std::to_string(version) + " is not supported (this Kaon reads version " +
                               std::to_string(kConfigVersion) + ")");
  rc.seed = static_cast<std::uint64_t>(top.getOr<long long>("seed", 0));
  rc.threads = top.getOr<int>("threads", 0);
  if (rc.threads < 0) top.failKey("threads", "must be >= 0 (0 = all cores)");
  rc.device = top.getChoice("device", {"cpu", "cuda", "auto"}, std::string("cpu"));
  if (auto gpu = top.findChild("gpu")) readGpu(*gpu, rc);
  // trainer.kind decides which sections the config has; the trainer section itself is read
  // (and validated) below, after the sections a standard config needs first.
  const YAML::Node& readOnly = root;  // const lookups never add keys to the tree
  const YAML::Node trainerNode = readOnly["trainer"];
  const bool hasKind = trainerNode.IsDefined() && trainerNode.IsMap() && trainerNode["kind"].IsDefined();
  if (hasKind) top.child("trainer").getChoice("kind", {"standard", "gan"});  // a typo: say so first
  const bool gan = hasKind && trainerNode["kind"].IsScalar() && trainerNode["kind"].Scalar() == "gan";
  if (gan) {
    // Two networks with an optimizer each: both live in `gan:`.
    for (const char* key : {"model", "optimizer", "schedule"})
      if (top.has(key))
        top.failKey(key, "does not apply to trainer.kind: gan (give gan.generator, gan.discriminator and their "
                         "optimizers)");
    rc.gan = top.child("gan").yaml();
  } else {
    if (top.has("gan")) top.failKey("gan", "applies to trainer.kind: gan only");
    rc.model = top.child("model").yaml();
    rc.optimizer = top.child("optimizer").yaml();
    if (auto s = top.findChild("schedule")) rc.schedule = s->yaml();
  }
  rc.data = top.child("data").yaml();
  auto trainer = top.child("trainer");
  readTrainer(trainer, rc);
  rc.trainer.seed = rc.seed;
  if (auto logging = top.findChild("logging")) readLogging(*logging, rc);
  top.finish();
  return rc;
}

RunConfig loadRunConfig(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot read the config file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parseRunConfig(ss.str(), path, overrides);
}

}  // namespace kaon::config
