// Built when the CUDA backend is not: the CUDA kernel table stays empty, so every op on a CUDA
// tensor reports "not implemented ... on the cuda backend".
#include "../kernel_table.hpp"

namespace kaon::ops {
void registerCudaKernels(KernelTable&) {}
}  // namespace kaon::ops
