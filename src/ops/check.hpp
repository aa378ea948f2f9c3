#pragma once
// Argument checks shared by the public op wrappers.
#include "kaon/core/tensor.hpp"

namespace kaon::ops::detail {

// Same dtype and device for every defined tensor; names the op in the error.
void checkCompatible(const char* op, std::initializer_list<const Tensor*> tensors);
void checkShape(const char* op, const char* what, const Tensor& t, const Shape& expected);
void checkDefined(const char* op, const char* what, const Tensor& t);

}  // namespace kaon::ops::detail
