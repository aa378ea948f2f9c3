#include "kernel_table.hpp"

#include <mutex>

#include "kaon/ops/reference_scope.hpp"

namespace kaon::ops {
namespace {
thread_local bool tUseReference = false;
}

const char* backendName(Backend b) {
  switch (b) {
    case Backend::Reference: return "reference";
    case Backend::Cpu: return "cpu";
    case Backend::Cuda: return "cuda";
  }
  return "invalid";
}

KernelTable& kernelTable(Backend backend) {
  static KernelTable tables[kNumBackends];
  static std::once_flag once;
  std::call_once(once, [] {
    registerReferenceKernels(tables[static_cast<int>(Backend::Reference)]);
    registerCpuKernels(tables[static_cast<int>(Backend::Cpu)]);
    registerCudaKernels(tables[static_cast<int>(Backend::Cuda)]);
  });
  return tables[static_cast<int>(backend)];
}

Backend backendFor(Device device) {
  if (device.isCuda()) return Backend::Cuda;
  return tUseReference ? Backend::Reference : Backend::Cpu;
}

ReferenceKernelsScope::ReferenceKernelsScope() : previous_(tUseReference) { tUseReference = true; }
ReferenceKernelsScope::~ReferenceKernelsScope() { tUseReference = previous_; }

}  // namespace kaon::ops
