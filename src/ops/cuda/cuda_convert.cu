// Conversions between the floating storage types (fp32, fp64, bf16, fp16), optionally scaled:
// the mixed-precision model's weight refresh (fp32 -> bf16/fp16), its input and output casts,
// and the gradient hand-back to fp32 (with the loss scale divided out).
#include <type_traits>

#include "cuda_common.cuh"
#include "cuda_launch.hpp"

namespace kaon::ops::cuda {
namespace {

// Arithmetic in double when either side is double (exact fp64 -> fp32 rounding), else float.
template <class S, class D>
using Wide = std::conditional_t<std::is_same_v<S, double> || std::is_same_v<D, double>, double, float>;

template <class S, class D>
__global__ void convertKernel(const S* src, D* dst, Wide<S, D> scale, std::int64_t n) {
  KAON_GRID_STRIDE(i, n) {
    Wide<S, D> v = static_cast<Wide<S, D>>(ld(src[i]));
    dst[i] = st<D>(scale == Wide<S, D>(1) ? v : v * scale);
  }
}

}  // namespace

template <class S, class D>
void convert(const S* src, D* dst, double scale, i64 n, cudaStream_t s) {
  if (n > 0) convertKernel<<<gridFor(n), kThreads, 0, s>>>(src, dst, static_cast<Wide<S, D>>(scale), n);
}

#define KAON_INSTANTIATE_TO(S, D) template void convert<S, D>(const S*, D*, double, i64, cudaStream_t);
#define KAON_INSTANTIATE_FROM(S)                                                                   \
  KAON_INSTANTIATE_TO(S, float) KAON_INSTANTIATE_TO(S, double) KAON_INSTANTIATE_TO(S, __nv_bfloat16) \
  KAON_INSTANTIATE_TO(S, __half)
KAON_FOR_ALL_FLOAT_TYPES(KAON_INSTANTIATE_FROM)
#undef KAON_INSTANTIATE_FROM
#undef KAON_INSTANTIATE_TO

}  // namespace kaon::ops::cuda
