#pragma once
// While a ReferenceKernelsScope lives, ops on CPU tensors in this thread run the plain
// reference kernels (the test oracle) instead of the optimised CPU ones.
namespace kaon::ops {

class ReferenceKernelsScope {
 public:
  ReferenceKernelsScope();
  ~ReferenceKernelsScope();
  ReferenceKernelsScope(const ReferenceKernelsScope&) = delete;
  ReferenceKernelsScope& operator=(const ReferenceKernelsScope&) = delete;

 private:
  bool previous_;
};

}  // namespace kaon::ops
