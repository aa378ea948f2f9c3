// The 2x2 / stride-2 max-pooling kernels (cuda_pool_2x2.cuh). Count for the jet CNN's first pool
// (256 x 128 x 64 x 64 bf16): the forward reads 268 MB and writes 67 MB of outputs and 134 MB of
// argmax, ~0.14 ms at 3.5 TB/s; the generic kernel took ~0.35 ms (loops, bounds checks, four
// divisions and a double sum per output).
#include "cuda_common.cuh"
#include "cuda_pool_2x2.cuh"

namespace kaon::ops::cuda {
namespace {

template <class T> struct PairOf;
template <> struct PairOf<float> { using type = float2; };
template <> struct PairOf<double> { using type = double2; };
template <> struct PairOf<__nv_bfloat16> { using type = __nv_bfloat162; };
template <> struct PairOf<__half> { using type = __half2; };
template <class T> using Pair = typename PairOf<T>::type;

template <class T>
__device__ __forceinline__ Pair<T> makePair(T a, T b) {
  Pair<T> p;
  p.x = a, p.y = b;
  return p;
}

template <class T>
__global__ void maxPool2x2ForwardKernel(const T* __restrict__ x, T* __restrict__ y, std::int32_t* __restrict__ argmax,
                                        int outW, int planeOut, int n) {
  const int inW = 2 * outW;
  for (int k = blockIdx.x * blockDim.x + threadIdx.x; k < n; k += blockDim.x * gridDim.x) {
    const int p = k / planeOut, o = k - p * planeOut, oy = o / outW, ox = o - oy * outW;
    const int at = 2 * oy * inW + 2 * ox;
    const T* row = x + static_cast<std::int64_t>(p) * (4 * planeOut) + at;
    const Pair<T> top = *reinterpret_cast<const Pair<T>*>(row), bottom = *reinterpret_cast<const Pair<T>*>(row + inW);
    const Acc<T> v[4] = {ld(top.x), ld(top.y), ld(bottom.x), ld(bottom.y)};
    Acc<T> best = v[0];
    int winner = 0;
#pragma unroll
    for (int j = 1; j < 4; ++j)
      if (v[j] > best) best = v[j], winner = j;  // first maximum wins, as on the CPU
    y[k] = st<T>(best);
    argmax[k] = at + (winner >> 1) * inW + (winner & 1);
  }
}

template <class T>
__global__ void maxPool2x2BackwardKernel(const T* __restrict__ dy, const std::int32_t* __restrict__ argmax, T* dx,
                                         double beta, int outW, int planeOut, int n) {
  const int inW = 2 * outW;
  for (int k = blockIdx.x * blockDim.x + threadIdx.x; k < n; k += blockDim.x * gridDim.x) {
    const int p = k / planeOut, o = k - p * planeOut, oy = o / outW, ox = o - oy * outW;
    const int at = 2 * oy * inW + 2 * ox;
    const int rel = argmax[k] - at, winner = rel >= inW ? 2 + (rel - inW) : rel;  // 0..3 in row-major order
    const double v = ld(dy[k]);
    T* row = dx + static_cast<std::int64_t>(p) * (4 * planeOut) + at;
    Pair<T>* top = reinterpret_cast<Pair<T>*>(row);
    Pair<T>* bottom = reinterpret_cast<Pair<T>*>(row + inW);
    double d[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) d[j] = winner == j ? v : 0.0;
    if (beta != 0.0) {
      const Pair<T> t = *top, b = *bottom;
      d[0] += beta * ld(t.x), d[1] += beta * ld(t.y), d[2] += beta * ld(b.x), d[3] += beta * ld(b.y);
    }
    *top = makePair(st<T>(d[0]), st<T>(d[1]));
    *bottom = makePair(st<T>(d[2]), st<T>(d[3]));
  }
}

bool aligned(const void* p, std::size_t bytes) { return reinterpret_cast<std::uintptr_t>(p) % bytes == 0; }

}  // namespace

bool pool2x2Applies(PoolKind kind, const Geom3& g, const void* pairs, std::size_t elemBytes) {
  if (kind != PoolKind::Max || g.in[0] != 1 || g.kernel[0] != 1 || g.stride[0] != 1) return false;
  for (int a = 1; a < 3; ++a)
    if (g.kernel[a] != 2 || g.stride[a] != 2 || g.dilation[a] != 1 || g.padBegin[a] != 0 || g.padEnd[a] != 0 ||
        g.out[a] * 2 != g.in[a])
      return false;
  const i64 n = g.planes * g.in[1] * g.in[2];
  // Pairs start at even columns of even-width rows: aligned when the base is.
  return n < (i64{1} << 30) && aligned(pairs, 2 * elemBytes);
}

template <class T>
void maxPool2x2Forward(const T* x, T* y, std::int32_t* argmax, const Geom3& g, cudaStream_t s) {
  const int planeOut = static_cast<int>(g.out[1] * g.out[2]), n = static_cast<int>(g.planes * planeOut);
  if (n > 0) maxPool2x2ForwardKernel<T><<<gridFor(n), kThreads, 0, s>>>(x, y, argmax, static_cast<int>(g.out[2]), planeOut, n);
}

template <class T>
void maxPool2x2Backward(const T* dy, const std::int32_t* argmax, T* dx, double beta, const Geom3& g, cudaStream_t s) {
  const int planeOut = static_cast<int>(g.out[1] * g.out[2]), n = static_cast<int>(g.planes * planeOut);
  if (n > 0)
    maxPool2x2BackwardKernel<T><<<gridFor(n), kThreads, 0, s>>>(dy, argmax, dx, beta, static_cast<int>(g.out[2]), planeOut, n);
}

#define KAON_INSTANTIATE_POOL_2X2(T)                                                                  \
  template void maxPool2x2Forward<T>(const T*, T*, std::int32_t*, const Geom3&, cudaStream_t);       \
  template void maxPool2x2Backward<T>(const T*, const std::int32_t*, T*, double, const Geom3&, cudaStream_t);
KAON_FOR_ALL_FLOAT_TYPES(KAON_INSTANTIATE_POOL_2X2)
#undef KAON_INSTANTIATE_POOL_2X2

}  // namespace kaon::ops::cuda
