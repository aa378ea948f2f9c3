#include "kaon/ops/optimizer_steps.hpp"

#include "check.hpp"
#include "kernel_table.hpp"

namespace kaon::ops {
namespace {
void checkState(const char* op, const Tensor& param, std::initializer_list<const Tensor*> state) {
  for (const Tensor* t : state) {
    if (!t->defined()) continue;
    detail::checkCompatible(op, {&param, t});
    KAON_CHECK(t->numel() == param.numel(), "{}: state of {} elements for {} parameters", op, t->numel(),
               param.numel());
  }
}
}  // namespace

void sgdStep(const SgdStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& velocity) {
  checkState("sgd", param, {&grad, &velocity});
  KAON_CHECK(a.momentum == 0.0 || velocity.defined(), "sgd: momentum needs a velocity buffer");
  require(&KernelTable::sgdStep, "sgd step", param.device())(a, param, grad, velocity);
}

void adamStep(const AdamStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v) {
  checkState("adam", param, {&grad, &m, &v});
  KAON_CHECK(grad.defined() && m.defined() && v.defined(), "adam: needs gradient, m and v buffers");
  KAON_CHECK(a.step >= 1, "adam: step is 1-based for bias correction, got {}", a.step);
  require(&KernelTable::adamStep, "adam step", param.device())(a, param, grad, m, v);
}

void rmspropStep(const RmspropStepArgs& a, const Tensor& param, const Tensor& grad, const Tensor& meanSquare,
                 const Tensor& velocity) {
  checkState("rmsprop", param, {&grad, &meanSquare, &velocity});
  KAON_CHECK(grad.defined() && meanSquare.defined(), "rmsprop: needs gradient and mean-square buffers");
  KAON_CHECK(a.momentum == 0.0 || velocity.defined(), "rmsprop: momentum needs a velocity buffer");
  require(&KernelTable::rmspropStep, "rmsprop step", param.device())(a, param, grad, meanSquare, velocity);
}

}  // namespace kaon::ops
