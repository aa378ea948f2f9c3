#include "kaon/ops/loss.hpp"

#include <cmath>

#include "check.hpp"
#include "kaon/ops/elementwise.hpp"
#include "kernel_table.hpp"

namespace kaon::ops {
namespace {

void checkTargets(LossKind kind, const Tensor& pred, const Tensor& target) {
  const char* name = lossName(kind).data();
  KAON_CHECK(pred.rank() >= 1 && pred.dim(0) > 0, "{}: empty prediction {}", name, pred.shape().str());
  if (kind == LossKind::SoftmaxCrossEntropy) {
    KAON_CHECK(pred.rank() == 2, "{}: logits must be [N, classes], got {}", name, pred.shape().str());
    KAON_CHECK(target.numel() == pred.dim(0), "{}: {} class labels for {} samples", name, target.numel(),
               pred.dim(0));
    if (target.device().isCpu()) {
      // A label outside [0, C) would index out of bounds: check it here, once, with a clear message.
      dispatchFloat(target.dtype(), [&](auto tag) {
        using T = decltype(tag);
        auto labels = target.span<T>();
        for (std::size_t n = 0; n < labels.size(); ++n) {
          T v = labels[n];
          KAON_CHECK(v >= 0 && v < pred.dim(1) && v == std::floor(v),
                     "{}: label {} of sample {} is not a class index in [0, {})", name, static_cast<double>(v), n,
                     pred.dim(1));
        }
      });
    }
  } else {
    KAON_CHECK(target.numel() == pred.numel(), "{}: target {} does not match prediction {}", name,
               target.shape().str(), pred.shape().str());
  }
}

}  // namespace

LossResult loss(LossKind kind, const Tensor& pred, const Tensor& target, const Tensor& weight, bool wantGrad) {
  detail::checkCompatible("loss", {&pred, &target, &weight});
  checkTargets(kind, pred, target);
  const std::int64_t N = pred.dim(0);
  if (weight.defined())
    KAON_CHECK(weight.numel() == N, "{}: {} sample weights for {} samples", lossName(kind), weight.numel(), N);
  LossResult r;
  r.perSample = Tensor::empty(Shape{N}, pred.dtype(), pred.device());
  if (wantGrad) r.grad = Tensor::empty(pred.shape(), pred.dtype(), pred.device());
  Tensor flatTarget = kind == LossKind::SoftmaxCrossEntropy ? target.reshape(Shape{N}) : target.reshape(pred.shape());
  require(&KernelTable::lossForwardBackward, "loss", pred.device())(kind, pred, flatTarget, weight,
                                                                   1.0 / static_cast<double>(N), r.perSample, r.grad);
  if (weight.defined()) {
    Tensor weighted = mul(r.perSample, weight.reshape(Shape{N}));
    r.value = sum(weighted) / static_cast<double>(N);
  } else {
    r.value = mean(r.perSample);
  }
  return r;
}

}  // namespace kaon::ops
