// optimizer: and schedule: sections: what valid YAML builds, and that mistakes are errors that
// name the key path (and suggest the intended key or value).
#include <gtest/gtest.h>

#include <initializer_list>

#include "kaon/optim/adam.hpp"
#include "kaon/optim/optim_config.hpp"
#include "kaon/optim/rmsprop.hpp"

namespace kaon {
namespace {

using config::ConfigError;
using config::ConfigNode;

optim::OptimizerSetup optimizer(const std::string& yaml) {
  ConfigNode node(YAML::Load(yaml), "optimizer");
  return optim::optimizerFromConfig(node);
}

std::unique_ptr<optim::Schedule> schedule(const std::string& yaml, double lr = 0.1, long long perEpoch = 10,
                                          long long total = 1000) {
  ConfigNode node(YAML::Load(yaml), "schedule");
  return optim::scheduleFromConfig(&node, lr, perEpoch, total);
}

// Runs f, which must throw ConfigError whose message contains every fragment.
template <class F>
void expectConfigError(F&& f, std::initializer_list<const char*> fragments) {
  try {
    f();
    ADD_FAILURE() << "no ConfigError; expected one mentioning " << *fragments.begin();
  } catch (const ConfigError& e) {
    for (const char* frag : fragments)
      EXPECT_NE(std::string(e.what()).find(frag), std::string::npos) << "'" << frag << "' not in: " << e.what();
  }
}

TEST(OptimConfig, BuildsEachType) {
  auto sgd = optimizer("{type: sgd, lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 5.0e-4, clip_norm: 2}");
  EXPECT_EQ(sgd.optimizer->name(), "sgd");
  EXPECT_EQ(sgd.baseLr, 0.1);
  EXPECT_EQ(sgd.clipNorm, 2.0);
  const auto& so = dynamic_cast<optim::Sgd&>(*sgd.optimizer).options();
  EXPECT_EQ(so.momentum, 0.9);
  EXPECT_TRUE(so.nesterov);
  EXPECT_EQ(so.weightDecay, 5e-4);

  auto adam = optimizer("{type: adam, lr: 1.0e-3, beta1: 0.8, eps: 1.0e-8}");
  const auto& ao = dynamic_cast<optim::Adam&>(*adam.optimizer).options();
  EXPECT_EQ(adam.optimizer->name(), "adam");
  EXPECT_EQ(adam.clipNorm, 0.0);  // off by default
  EXPECT_FALSE(ao.decoupled);
  EXPECT_EQ(ao.beta1, 0.8);
  EXPECT_EQ(ao.beta2, 0.999);
  EXPECT_EQ(ao.eps, 1e-8);
  EXPECT_EQ(ao.weightDecay, 0.0);

  auto adamw = optimizer("{type: adamw, lr: 1.0e-3}");
  const auto& wo = dynamic_cast<optim::Adam&>(*adamw.optimizer).options();
  EXPECT_EQ(adamw.optimizer->name(), "adamw");
  EXPECT_TRUE(wo.decoupled);
  EXPECT_EQ(wo.weightDecay, 0.01);  // torch.optim.AdamW's default
  EXPECT_EQ(wo.eps, 1e-7);          // Keras' default eps unless configured

  auto rms = optimizer("{type: rmsprop, lr: 1.0e-3, rho: 0.95, momentum: 0.5}");
  const auto& ro = dynamic_cast<optim::Rmsprop&>(*rms.optimizer).options();
  EXPECT_EQ(ro.rho, 0.95);
  EXPECT_EQ(ro.momentum, 0.5);
}

TEST(OptimConfig, OptimizerErrors) {
  expectConfigError([] { optimizer("{type: adma, lr: 0.1}"); }, {"optimizer.type", "did you mean 'adam'"});
  expectConfigError([] { optimizer("{type: adam, lr: 0.1, momentum: 0.9}"); },
                    {"optimizer.momentum", "does not apply", "adam"});
  expectConfigError([] { optimizer("{type: sgd, lr: 0.1, beta1: 0.9}"); }, {"optimizer.beta1", "does not apply"});
  expectConfigError([] { optimizer("{type: sgd}"); }, {"optimizer.lr", "missing required key"});
  expectConfigError([] { optimizer("{lr: 0.1}"); }, {"optimizer.type", "missing required key"});
  expectConfigError([] { optimizer("{type: sgd, lr: -0.1}"); }, {"optimizer.lr", "must be > 0"});
  expectConfigError([] { optimizer("{type: adam, lr: 0.1, beta2: 1.0}"); }, {"optimizer.beta2", "[0, 1)"});
  expectConfigError([] { optimizer("{type: adam, lr: 0.1, eps: 0}"); }, {"optimizer.eps"});
  expectConfigError([] { optimizer("{type: sgd, lr: 0.1, weight_decay: -1}"); }, {"optimizer.weight_decay"});
  expectConfigError([] { optimizer("{type: sgd, lr: 0.1, clip_norm: -1}"); }, {"optimizer.clip_norm"});
  expectConfigError([] { optimizer("{type: sgd, lr: 0.1, nesterov: true}"); }, {"optimizer.nesterov", "momentum"});
  expectConfigError([] { optimizer("{type: sgd, lr: 0.1, weight_decy: 0.1}"); },
                    {"optimizer.weight_decy", "did you mean 'weight_decay'"});
  expectConfigError([] { optimizer("{type: sgd, lr: fast}"); }, {"optimizer.lr", "expected a number"});
}

TEST(ScheduleConfig, AbsentSectionIsConstant) {
  auto s = optim::scheduleFromConfig(nullptr, 0.05, 10, 100);
  EXPECT_EQ(s->lr(0), 0.05);
  EXPECT_EQ(s->lr(99), 0.05);
}

TEST(ScheduleConfig, EpochSettingsBecomeSteps) {
  auto step = schedule("{type: step, step_epochs: 2, gamma: 0.5}");  // 10 steps per epoch
  EXPECT_DOUBLE_EQ(step->lr(19), 0.1);
  EXPECT_DOUBLE_EQ(step->lr(20), 0.05);
  auto steps = schedule("{type: step, step_steps: 7}");  // default gamma 0.1
  EXPECT_DOUBLE_EQ(steps->lr(7), 0.01);
  auto expo = schedule("{type: exponential, decay_rate: 0.5, decay_epochs: 1}");
  EXPECT_DOUBLE_EQ(expo->lr(10), 0.05);
  auto cosine = schedule("{type: cosine, min_lr: 0.02}");
  EXPECT_DOUBLE_EQ(cosine->lr(500), 0.06);  // midpoint of a 1000-step run
  auto warm = schedule("{type: cosine, warmup_epochs: 1, warmup_start_factor: 0.5}");
  EXPECT_DOUBLE_EQ(warm->lr(0), 0.05);
  EXPECT_DOUBLE_EQ(warm->lr(500), 0.05);
  auto warmDefault = schedule("{warmup_steps: 4}");  // constant, default start factor 0.1
  EXPECT_DOUBLE_EQ(warmDefault->lr(0), 0.01);
  EXPECT_DOUBLE_EQ(warmDefault->lr(4), 0.1);
  EXPECT_DOUBLE_EQ(schedule("{type: constant, warmup_epochs: 0}")->lr(0), 0.1);  // 0 = no warm-up
}

TEST(ScheduleConfig, Errors) {
  expectConfigError([] { schedule("{type: cosine, warmup_epochs: 1, warmup_steps: 5}"); },
                    {"schedule.warmup_steps", "not both"});
  expectConfigError([] { schedule("{type: cosin}"); }, {"schedule.type", "did you mean 'cosine'"});
  expectConfigError([] { schedule("{type: cosine, gamma: 0.1}"); }, {"schedule.gamma", "does not apply"});
  expectConfigError([] { schedule("{type: step, min_lr: 0.1, step_steps: 3}"); }, {"schedule.min_lr"});
  expectConfigError([] { schedule("{type: step}"); }, {"schedule", "step_epochs or step_steps"});
  expectConfigError([] { schedule("{type: step, step_steps: 0}"); }, {"schedule.step_steps", ">= 1"});
  expectConfigError([] { schedule("{type: step, step_steps: 5, gamma: 1.5}"); }, {"schedule.gamma"});
  expectConfigError([] { schedule("{type: exponential, decay_steps: 5}"); },
                    {"schedule.decay_rate", "missing required key"});
  expectConfigError([] { schedule("{type: cosine, min_lr: 0.5}"); }, {"schedule.min_lr"});
  expectConfigError([] { schedule("{type: cosine}", 0.1, 10, 0); }, {"schedule", "run length"});
  expectConfigError([] { schedule("{type: step, step_epochs: 1}", 0.1, 0, 100); },
                    {"schedule.step_epochs", "steps per epoch"});
  expectConfigError([] { schedule("{warmup_start_factor: 0.2}"); }, {"schedule.warmup_start_factor", "needs"});
  expectConfigError([] { schedule("{warmup_steps: 5, warmup_start_factor: 2}"); },
                    {"schedule.warmup_start_factor"});
  expectConfigError([] { schedule("{warmup_epochs: 200}"); }, {"schedule.warmup_epochs", "does not fit"});
  expectConfigError([] { schedule("{type: cosine, min_lrr: 0.1}"); }, {"schedule.min_lrr", "did you mean 'min_lr'"});
}

}  // namespace
}  // namespace kaon
