// Optimizers: 3 steps against the published update rules written out independently here in
// double, a few literal values, CPU-vs-reference parity, frozen ranges, resume from state.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <optional>

#include "../support/test_util.hpp"
#include "kaon/ops/reference_scope.hpp"
#include "kaon/optim/adam.hpp"
#include "kaon/optim/rmsprop.hpp"

namespace kaon {
namespace {

using Vec = std::vector<double>;

// Three gradients for a 4-element parameter vector, and a different lr each step (as a
// schedule would give) so a kernel that ignores lr or reuses step 1's values fails.
const Vec kP0 = {0.5, -1.5, 2.0, 0.0};
const std::vector<Vec> kGrads = {{0.3, -0.2, 1.0, 0.0}, {0.1, 0.4, -0.5, 2.0}, {-0.6, 0.0, 0.25, 1.0}};
const Vec kLrs = {0.1, 0.05, 0.02};

// Runs the optimizer over kGrads on a Float64 copy of kP0; on the reference kernels if asked.
Vec runThreeSteps(optim::Optimizer& opt, bool reference) {
  Tensor p = Tensor::fromVector<double>(Shape{4}, kP0);
  Tensor g = Tensor::zeros(Shape{4}, DType::Float64);
  opt.attach(p, g, {{0, 4}});
  std::optional<ops::ReferenceKernelsScope> scope;
  if (reference) scope.emplace();
  for (int s = 0; s < 3; ++s) {
    g.copyFrom(Tensor::fromVector<double>(Shape{4}, kGrads[s]));
    opt.step(kLrs[s]);
  }
  return p.toVector<double>();
}

// ---- the update rules, written from the papers / PyTorch docs, one scalar at a time ----------

// torch.optim.SGD: b = mu*b + g (b = g on the first step, same thing from b = 0);
// nesterov: g + mu*b, else b.
Vec handSgd(double mu, bool nesterov, double wd) {
  Vec p = kP0, b(4, 0.0);
  for (int s = 0; s < 3; ++s)
    for (int i = 0; i < 4; ++i) {
      double g = kGrads[s][i] + wd * p[i];
      b[i] = mu * b[i] + g;
      double d = mu == 0 ? g : nesterov ? g + mu * b[i] : b[i];
      p[i] -= kLrs[s] * d;
    }
  return p;
}

// Kingma & Ba, Algorithm 1; L2 (torch Adam) or decoupled (torch AdamW: theta *= 1 - lr*lambda).
Vec handAdam(double b1, double b2, double eps, double wd, bool decoupled) {
  Vec p = kP0, m(4, 0.0), v(4, 0.0);
  for (int t = 1; t <= 3; ++t)
    for (int i = 0; i < 4; ++i) {
      double lr = kLrs[t - 1];
      double g = kGrads[t - 1][i];
      if (decoupled) p[i] = p[i] - lr * wd * p[i];
      else g = g + wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      double mHat = m[i] / (1 - std::pow(b1, t));
      double vHat = v[i] / (1 - std::pow(b2, t));
      p[i] = p[i] - lr * mHat / (std::sqrt(vHat) + eps);
    }
  return p;
}

// torch.optim.RMSprop (centered=False): v = alpha*v + (1-alpha)*g^2; avg = sqrt(v) + eps;
// buf = mu*buf + g/avg; p -= lr*buf  (or p -= lr*g/avg without momentum).
Vec handRmsprop(double rho, double eps, double mu, double wd) {
  Vec p = kP0, sq(4, 0.0), buf(4, 0.0);
  for (int s = 0; s < 3; ++s)
    for (int i = 0; i < 4; ++i) {
      double g = kGrads[s][i] + wd * p[i];
      sq[i] = rho * sq[i] + (1 - rho) * g * g;
      double avg = std::sqrt(sq[i]) + eps;
      if (mu > 0) {
        buf[i] = mu * buf[i] + g / avg;
        p[i] -= kLrs[s] * buf[i];
      } else {
        p[i] -= kLrs[s] * g / avg;
      }
    }
  return p;
}

struct Case {
  const char* name;
  std::function<std::unique_ptr<optim::Optimizer>()> make;
  std::function<Vec()> expected;
};

std::vector<Case> cases() {
  return {
      {"sgd", [] { return std::make_unique<optim::Sgd>(); }, [] { return handSgd(0, false, 0); }},
      {"sgd_momentum_wd", [] { return std::make_unique<optim::Sgd>(optim::SgdOptions{0.9, false, 0.01}); },
       [] { return handSgd(0.9, false, 0.01); }},
      {"sgd_nesterov", [] { return std::make_unique<optim::Sgd>(optim::SgdOptions{0.9, true, 0}); },
       [] { return handSgd(0.9, true, 0); }},
      {"adam", [] { return std::make_unique<optim::Adam>(); }, [] { return handAdam(0.9, 0.999, 1e-7, 0, false); }},
      {"adam_l2", [] { return std::make_unique<optim::Adam>(optim::AdamOptions{0.8, 0.99, 1e-8, 0.1, false}); },
       [] { return handAdam(0.8, 0.99, 1e-8, 0.1, false); }},
      {"adamw", [] { return std::make_unique<optim::Adam>(optim::AdamOptions{0.8, 0.99, 1e-8, 0.1, true}); },
       [] { return handAdam(0.8, 0.99, 1e-8, 0.1, true); }},
      {"rmsprop", [] { return std::make_unique<optim::Rmsprop>(); }, [] { return handRmsprop(0.9, 1e-7, 0, 0); }},
      {"rmsprop_momentum_wd",
       [] { return std::make_unique<optim::Rmsprop>(optim::RmspropOptions{0.99, 1e-8, 0.9, 0.05}); },
       [] { return handRmsprop(0.99, 1e-8, 0.9, 0.05); }},
  };
}

TEST(Optimizers, ThreeStepsMatchPublishedFormulas) {
  for (const Case& c : cases())
    for (bool reference : {false, true}) {
      SCOPED_TRACE(std::string(c.name) + (reference ? " (reference)" : " (cpu)"));
      auto opt = c.make();
      Vec got = runThreeSteps(*opt, reference), want = c.expected();
      EXPECT_EQ(opt->stepCount(), 3);
      for (int i = 0; i < 4; ++i) EXPECT_NEAR(got[i], want[i], 1e-13 * std::max(1.0, std::abs(want[i]))) << i;
      EXPECT_NE(got, kP0);  // the comparison above would be vacuous if nothing moved
    }
}

// Literal values worked out by hand, so a shared misreading of a formula cannot pass twice.
TEST(Optimizers, LiteralValues) {
  // SGD, momentum 0.9, lr 0.1, constant gradient 1 from p = 0:
  //   plain    b = 1, 1.9, 2.71       -> p = -0.1, -0.29, -0.561
  //   nesterov d = 1.9, 2.71, 3.439   -> p = -0.19, -0.461, -0.8049
  for (bool nesterov : {false, true}) {
    optim::Sgd sgd(optim::SgdOptions{0.9, nesterov, 0});
    Tensor p = Tensor::zeros(Shape{1}, DType::Float64), g = Tensor::full(Shape{1}, 1.0, DType::Float64);
    sgd.attach(p, g, {{0, 1}});
    Vec want = nesterov ? Vec{-0.19, -0.461, -0.8049} : Vec{-0.1, -0.29, -0.561};
    for (double w : want) {
      sgd.step(0.1);
      EXPECT_NEAR(p.item(0), w, 1e-14) << (nesterov ? "nesterov" : "plain");
    }
  }
  // Adam's first step is lr * g / (|g| + eps) whatever the betas: about lr * sign(g).
  optim::Adam adam;
  Tensor p = Tensor::fromVector<double>(Shape{2}, {1.0, -2.0});
  Tensor g = Tensor::fromVector<double>(Shape{2}, {0.3, -4.0});
  adam.attach(p, g, {{0, 2}});
  adam.step(0.1);
  EXPECT_NEAR(p.item(0), 1.0 - 0.1 * 0.3 / 0.3000001, 1e-14);
  EXPECT_NEAR(p.item(1), -2.0 + 0.1 * 4.0 / 4.0000001, 1e-14);
  // RMSprop's first step: sq = 0.1 g^2, so the update is lr * g / (sqrt(0.1)|g| + eps).
  optim::Rmsprop rms;
  Tensor q = Tensor::fromVector<double>(Shape{1}, {1.0});
  Tensor h = Tensor::fromVector<double>(Shape{1}, {2.0});
  rms.attach(q, h, {{0, 1}});
  rms.step(0.01);
  EXPECT_NEAR(q.item(0), 1.0 - 0.01 * 2.0 / (std::sqrt(0.4) + 1e-7), 1e-14);
}

// With a zero gradient AdamW only shrinks the weights by (1 - lr*wd), exactly; Adam's L2 term
// instead becomes the gradient and, normalised by Adam, moves each weight by about lr*sign(p).
TEST(Optimizers, AdamWDecouplesWeightDecay) {
  Vec results[2];
  for (bool decoupled : {false, true}) {
    optim::Adam adam(optim::AdamOptions{0.9, 0.999, 1e-7, 0.1, decoupled});
    EXPECT_EQ(adam.name(), decoupled ? "adamw" : "adam");
    Tensor p = Tensor::fromVector<double>(Shape{2}, {2.0, -3.0});
    Tensor g = Tensor::zeros(Shape{2}, DType::Float64);
    adam.attach(p, g, {{0, 2}});
    adam.step(0.01);
    results[decoupled] = p.toVector<double>();
  }
  EXPECT_NEAR(results[1][0], 2.0 * (1 - 0.01 * 0.1), 1e-15);
  EXPECT_NEAR(results[1][1], -3.0 * (1 - 0.01 * 0.1), 1e-15);
  EXPECT_NEAR(results[0][0], 2.0 - 0.01, 1e-8);
  EXPECT_NEAR(results[0][1], -3.0 + 0.01, 1e-8);
}

// Parity of the CPU kernels with the reference ones on 10^5 random elements, float and double,
// parameters and every state buffer, after 3 steps.
TEST(Optimizers, CpuMatchesReference) {
  const std::int64_t n = 100000;
  for (DType dtype : {DType::Float32, DType::Float64})
    for (const Case& c : cases()) {
      SCOPED_TRACE(std::string(c.name) + " " + std::string(dtypeName(dtype)));
      std::vector<std::unique_ptr<optim::Optimizer>> opts;
      std::vector<Tensor> params;
      for (bool reference : {false, true}) {
        opts.push_back(c.make());
        params.push_back(testing::randomTensor(Shape{n}, 1, dtype));
        Tensor g = Tensor::zeros(Shape{n}, dtype);
        opts.back()->attach(params.back(), g, {{0, n}});
        std::optional<ops::ReferenceKernelsScope> scope;
        if (reference) scope.emplace();
        for (int s = 0; s < 3; ++s) {
          g.copyFrom(testing::randomTensor(Shape{n}, 10 + s, dtype, -2, 2));
          opts.back()->step(kLrs[s]);
        }
      }
      double tol = dtype == DType::Float32 ? 2e-6 : 1e-13;
      EXPECT_TENSORS_CLOSE(params[0], params[1], tol);
      auto cpuState = opts[0]->state(), refState = opts[1]->state();
      ASSERT_EQ(cpuState.size(), refState.size());
      for (std::size_t k = 0; k < cpuState.size(); ++k) {
        SCOPED_TRACE(cpuState[k].first);
        EXPECT_TENSORS_CLOSE(cpuState[k].second, refState[k].second, tol);
      }
    }
}

// Elements outside the trainable ranges (frozen layers) keep their values and zero state.
TEST(Optimizers, FrozenRangesUntouched) {
  for (const Case& c : cases())
    for (DType dtype : {DType::Float32, DType::Float64}) {
      SCOPED_TRACE(c.name);
      auto opt = c.make();
      Tensor p = testing::randomTensor(Shape{10}, 3, dtype), before = p.clone();
      Tensor g = testing::randomTensor(Shape{10}, 4, dtype, 0.5, 1.5);  // nonzero everywhere
      opt->attach(p, g, {{0, 3}, {6, 4}});
      for (int s = 0; s < 3; ++s) opt->step(0.1);
      for (std::int64_t i = 0; i < 10; ++i) {
        bool frozen = i >= 3 && i < 6;
        if (frozen) EXPECT_EQ(p.item(i), before.item(i)) << i;
        else EXPECT_NE(p.item(i), before.item(i)) << i;
        if (!frozen) continue;
        for (auto& [name, t] : opt->state()) EXPECT_EQ(t.item(i), 0.0) << name << " " << i;
      }
    }
}

// Restoring state buffers and the step count (a checkpoint) continues the same trajectory,
// including Adam's bias correction.
TEST(Optimizers, ResumeFromStateMatchesUninterruptedRun) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    auto full = c.make();
    Vec want = runThreeSteps(*full, false);

    auto first = c.make();
    Tensor p = Tensor::fromVector<double>(Shape{4}, kP0), g = Tensor::zeros(Shape{4}, DType::Float64);
    first->attach(p, g, {{0, 4}});
    for (int s = 0; s < 2; ++s) {
      g.copyFrom(Tensor::fromVector<double>(Shape{4}, kGrads[s]));
      first->step(kLrs[s]);
    }
    auto resumed = c.make();
    resumed->attach(p, g, {{0, 4}});
    auto from = first->state(), to = resumed->state();
    ASSERT_EQ(from.size(), to.size());
    for (std::size_t k = 0; k < from.size(); ++k) to[k].second.copyFrom(from[k].second);
    resumed->setStepCount(first->stepCount());
    g.copyFrom(Tensor::fromVector<double>(Shape{4}, kGrads[2]));
    resumed->step(kLrs[2]);
    Vec got = p.toVector<double>();
    for (int i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(got[i], want[i]) << i;
  }
}

TEST(Optimizers, RejectInvalidOptions) {
  EXPECT_THROW(optim::Adam(optim::AdamOptions{1.0}), Error);
  EXPECT_THROW(optim::Adam(optim::AdamOptions{0.9, 0.999, 0.0}), Error);
  EXPECT_THROW(optim::Rmsprop(optim::RmspropOptions{1.0}), Error);
  EXPECT_THROW(optim::Rmsprop(optim::RmspropOptions{0.9, 1e-7, -0.1}), Error);
  optim::Adam adam;
  EXPECT_THROW(adam.step(0.1), Error);  // before attach
}

}  // namespace
}  // namespace kaon
