#include "kaon/optim/optim_config.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "kaon/optim/adam.hpp"
#include "kaon/optim/rmsprop.hpp"

namespace kaon::optim {
namespace {

using config::ConfigNode;
using KeyTable = std::map<std::string, std::vector<std::string>>;

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Rejects keys that some other type uses but `type` does not, naming the types that do: a
// clearer message than "unknown key" for `momentum` under adam. Runs before anything is read.
void rejectForeignKeys(const ConfigNode& node, const char* what, const std::string& type, const KeyTable& table) {
  const auto& own = table.at(type);
  for (const auto& key : node.keys()) {
    if (contains(own, key)) continue;
    std::vector<std::string> users;
    for (const auto& [t, keys] : table)
      if (contains(keys, key)) users.push_back(t);
    if (!users.empty())
      node.failKey(key, fmt::format("does not apply to {} type '{}' (only to: {})", what, type,
                                    fmt::join(users, ", ")));
  }
}

// Optional number checked against [lo, hi] with open or closed ends; errors name the key path.
struct Bounds {
  double lo, hi;
  bool loOpen = false, hiOpen = false;
};
std::string boundsText(const Bounds& b) {
  if (b.hi == INFINITY) return fmt::format("{} {}", b.loOpen ? ">" : ">=", b.lo);
  return fmt::format("in {}{}, {}{}", b.loOpen ? "(" : "[", b.lo, b.hi, b.hiOpen ? ")" : "]");
}
double number(ConfigNode& node, const std::string& key, std::optional<double> fallback, Bounds b) {
  std::optional<double> v = node.find<double>(key);
  if (!v) {
    if (!fallback) node.failKey(key, "missing required key");
    return *fallback;
  }
  bool ok = (b.loOpen ? *v > b.lo : *v >= b.lo) && (b.hiOpen ? *v < b.hi : *v <= b.hi);
  if (!ok) node.failKey(key, fmt::format("must be {}, got {}", boundsText(b), *v));
  return *v;
}

const Bounds kPositive{0, INFINITY, true};
const Bounds kNonNegative{0, INFINITY};
const Bounds kUnitOpen{0, 1, false, true};  // [0, 1): betas, rho, momentum
const Bounds kDecay{0, 1, true};            // (0, 1]: gamma, decay_rate

// A duration given as `epochsKey` or `stepsKey` (not both), in steps; nullopt when neither is
// given. Values below `minimum` are errors.
std::optional<long long> duration(ConfigNode& node, const std::string& epochsKey, const std::string& stepsKey,
                                  long long stepsPerEpoch, long long minimum) {
  auto epochs = node.find<long long>(epochsKey);
  auto steps = node.find<long long>(stepsKey);
  if (epochs && steps) node.failKey(stepsKey, fmt::format("give either {} or {}, not both", epochsKey, stepsKey));
  if (steps) {
    if (*steps < minimum) node.failKey(stepsKey, fmt::format("must be >= {}, got {}", minimum, *steps));
    return *steps;
  }
  if (!epochs) return std::nullopt;
  if (*epochs < minimum) node.failKey(epochsKey, fmt::format("must be >= {}, got {}", minimum, *epochs));
  if (stepsPerEpoch <= 0)
    node.failKey(epochsKey, fmt::format("the number of steps per epoch is not known here; use {}", stepsKey));
  return *epochs * stepsPerEpoch;
}

}  // namespace

OptimizerSetup optimizerFromConfig(ConfigNode& node) {
  static const KeyTable kTypeKeys = {
      {"sgd", {"momentum", "nesterov"}},
      {"adam", {"beta1", "beta2", "eps"}},
      {"adamw", {"beta1", "beta2", "eps"}},
      {"rmsprop", {"rho", "eps", "momentum"}},
  };
  const std::string type = node.getChoice("type", {"sgd", "adam", "adamw", "rmsprop"});
  rejectForeignKeys(node, "optimizer", type, kTypeKeys);

  OptimizerSetup setup;
  setup.baseLr = number(node, "lr", std::nullopt, kPositive);
  setup.clipNorm = number(node, "clip_norm", 0.0, kNonNegative);
  const double weightDecay = number(node, "weight_decay", type == "adamw" ? 0.01 : 0.0, kNonNegative);

  if (type == "sgd") {
    SgdOptions o;
    o.weightDecay = weightDecay;
    o.momentum = number(node, "momentum", 0.0, kUnitOpen);
    o.nesterov = node.getOr<bool>("nesterov", false);
    if (o.nesterov && o.momentum == 0) node.failKey("nesterov", "needs momentum > 0");
    setup.optimizer = std::make_unique<Sgd>(o);
  } else if (type == "adam" || type == "adamw") {
    AdamOptions o;
    o.weightDecay = weightDecay;
    o.decoupled = type == "adamw";
    o.beta1 = number(node, "beta1", o.beta1, kUnitOpen);
    o.beta2 = number(node, "beta2", o.beta2, kUnitOpen);
    o.eps = number(node, "eps", o.eps, kPositive);
    setup.optimizer = std::make_unique<Adam>(o);
  } else {
    RmspropOptions o;
    o.weightDecay = weightDecay;
    o.rho = number(node, "rho", o.rho, kUnitOpen);
    o.eps = number(node, "eps", o.eps, kPositive);
    o.momentum = number(node, "momentum", 0.0, kUnitOpen);
    setup.optimizer = std::make_unique<Rmsprop>(o);
  }
  node.finish();
  return setup;
}

std::unique_ptr<Schedule> scheduleFromConfig(ConfigNode* node, double baseLr, long long stepsPerEpoch,
                                             long long totalSteps) {
  KAON_CHECK(baseLr > 0, "scheduleFromConfig: base lr must be > 0, got {}", baseLr);
  if (!node) return std::make_unique<ConstantSchedule>(baseLr);
  static const KeyTable kTypeKeys = {
      {"constant", {}},
      {"step", {"step_epochs", "step_steps", "gamma"}},
      {"exponential", {"decay_rate", "decay_epochs", "decay_steps"}},
      {"cosine", {"min_lr"}},
  };
  const std::string type =
      node->getChoice("type", {"constant", "step", "exponential", "cosine"}, std::string("constant"));
  rejectForeignKeys(*node, "schedule", type, kTypeKeys);

  std::unique_ptr<Schedule> schedule;
  if (type == "constant") {
    schedule = std::make_unique<ConstantSchedule>(baseLr);
  } else if (type == "step") {
    auto every = duration(*node, "step_epochs", "step_steps", stepsPerEpoch, 1);
    if (!every) node->fail("a step schedule needs step_epochs or step_steps");
    double gamma = number(*node, "gamma", 0.1, kDecay);
    schedule = std::make_unique<StepDecaySchedule>(baseLr, gamma, *every);
  } else if (type == "exponential") {
    double rate = number(*node, "decay_rate", std::nullopt, kDecay);
    auto every = duration(*node, "decay_epochs", "decay_steps", stepsPerEpoch, 1);
    if (!every) node->fail("an exponential schedule needs decay_epochs or decay_steps");
    schedule = std::make_unique<ExponentialSchedule>(baseLr, rate, *every);
  } else {
    double minLr = number(*node, "min_lr", 0.0, Bounds{0, baseLr});
    if (totalSteps <= 0) node->fail("a cosine schedule needs the run length (total steps), which is unknown here");
    schedule = std::make_unique<CosineSchedule>(baseLr, minLr, totalSteps);
  }

  auto warmup = duration(*node, "warmup_epochs", "warmup_steps", stepsPerEpoch, 0);
  std::optional<double> startFactor = node->find<double>("warmup_start_factor");
  if (startFactor && (!warmup || *warmup == 0))
    node->failKey("warmup_start_factor", "needs warmup_epochs or warmup_steps > 0");
  if (warmup && *warmup > 0) {
    if (totalSteps > 0 && *warmup >= totalSteps)
      node->failKey(node->has("warmup_steps") ? "warmup_steps" : "warmup_epochs",
                    fmt::format("a warm-up of {} steps does not fit in a run of {} steps", *warmup, totalSteps));
    double start = number(*node, "warmup_start_factor", 0.1, Bounds{0, 1});
    schedule = std::make_unique<WarmupSchedule>(std::move(schedule), *warmup, start);
  }
  node->finish();
  return schedule;
}

}  // namespace kaon::optim
