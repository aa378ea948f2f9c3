#include "check.hpp"

namespace kaon::ops::detail {

void checkDefined(const char* op, const char* what, const Tensor& t) {
  KAON_CHECK(t.defined(), "{}: {} is undefined", op, what);
}

void checkCompatible(const char* op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (!t->defined()) continue;
    if (!first) {
      first = t;
      continue;
    }
    KAON_CHECK(t->dtype() == first->dtype(), "{}: mixed dtypes {} and {}", op, dtypeName(first->dtype()),
               dtypeName(t->dtype()));
    KAON_CHECK(t->device() == first->device(), "{}: tensors on {} and {}", op, first->device().str(),
               t->device().str());
  }
}

void checkShape(const char* op, const char* what, const Tensor& t, const Shape& expected) {
  KAON_CHECK(t.shape() == expected, "{}: {} has shape {}, expected {}", op, what, t.shape().str(), expected.str());
}

}  // namespace kaon::ops::detail
