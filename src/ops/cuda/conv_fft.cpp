// Host side of the FFT convolution (conv_fft.hpp): FFT sizes, chunking, cuFFT plans and the
// sequence of packs, transforms and products per op.
#include "conv_fft.hpp"

#include <cufft.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include "../../cuda/cuda_check.hpp"
#include "conv_fft_kernels.hpp"

#define KAON_CUFFT_CHECK(expr)                                                        \
  do {                                                                                \
    cufftResult kaonCufftStatus_ = (expr);                                            \
    if (kaonCufftStatus_ != CUFFT_SUCCESS)                                            \
      KAON_FAIL("cuFFT error {} in {}", static_cast<int>(kaonCufftStatus_), #expr);   \
  } while (0)

namespace kaon::ops::cudak::fftconv {
namespace {

std::atomic<std::int64_t> gExecutions{0};

// The smallest m >= n whose prime factors are all 2, 3, 5 or 7: cuFFT's fast radices (the
// 3DGAN's 33 would otherwise need a radix-11 pass).
std::int64_t fftSize(std::int64_t n) {
  for (std::int64_t m = std::max<std::int64_t>(n, 1);; ++m) {
    std::int64_t r = m;
    for (int p : {2, 3, 5, 7})
      while (r % p == 0) r /= p;
    if (r == 1) return m;
  }
}

std::size_t aligned(std::size_t bytes) { return (bytes + 255) / 256 * 256; }

// One cuFFT plan without its own work area (Kaon's workspace from the caching allocator serves).
struct CufftPlan {
  cufftHandle handle = 0;
  bool made = false;
  std::size_t work = 0;
  CufftPlan() = default;
  CufftPlan(const CufftPlan&) = delete;
  CufftPlan& operator=(const CufftPlan&) = delete;
  ~CufftPlan() {
    if (made) cufftDestroy(handle);
  }
};

}  // namespace

struct Plan {
  Op op = Op::Forward;
  ConvGeometry g;
  Elem elem = Elem::Float32;
  std::size_t elemBytes = 4;
  Volume v{};
  std::int64_t F = 0;      // complex values per plane
  std::int64_t chunk = 0;  // samples per pass
  // Workspace: the fixed planes (weights' spectra, or the filter gradient's), buffers A and B
  // of one chunk, cuFFT's work area.
  std::size_t fixedBytes = 0, aBytes = 0, bBytes = 0, workBytes = 0;
  CufftPlan toA, toB, toW, back;  // R2C of buffer A, of buffer B, of the weights; C2R of the result
  mutable std::mutex mutex;       // cuFFT plans carry a stream and a work area
};

namespace {

// An in-place batched R2C or C2R plan over `batch` volumes of the plan's layout.
void makeCufft(CufftPlan& p, const Volume& v, cufftType type, std::int64_t batch) {
  long long n[3], realEmbed[3], complexEmbed[3];
  int rank = 0;
  for (int a = 0; a < 2; ++a)
    if (v.L[a] > 1) n[rank++] = v.L[a];
  n[rank++] = v.L[2];
  for (int a = 0; a < rank; ++a) realEmbed[a] = complexEmbed[a] = n[a];
  realEmbed[rank - 1] = v.row;
  complexEmbed[rank - 1] = v.L[2] / 2 + 1;
  const long long realDist = v.planeFloats(), complexDist = v.planeFloats() / 2;
  const bool r2c = type == CUFFT_R2C;
  KAON_CUFFT_CHECK(cufftCreate(&p.handle));
  p.made = true;
  KAON_CUFFT_CHECK(cufftSetAutoAllocation(p.handle, 0));
  KAON_CUFFT_CHECK(cufftMakePlanMany64(p.handle, rank, n, r2c ? realEmbed : complexEmbed, 1,
                                       r2c ? realDist : complexDist, r2c ? complexEmbed : realEmbed, 1,
                                       r2c ? complexDist : realDist, type, batch, &p.work));
}

void useStream(const CufftPlan& p, cudaStream_t stream, void* work) {
  if (!p.made) return;
  KAON_CUFFT_CHECK(cufftSetStream(p.handle, stream));
  KAON_CUFFT_CHECK(cufftSetWorkArea(p.handle, work));
}

void forwardFft(const CufftPlan& p, float* buffer) {
  KAON_CUFFT_CHECK(cufftExecR2C(p.handle, buffer, reinterpret_cast<cufftComplex*>(buffer)));
}
void inverseFft(const CufftPlan& p, float* buffer) {
  KAON_CUFFT_CHECK(cufftExecC2R(p.handle, reinterpret_cast<cufftComplex*>(buffer), buffer));
}

// The plan with `chunk` samples per pass, or null when it needs more than `budget` bytes.
std::shared_ptr<Plan> tryPlan(Op op, const ConvGeometry& g, Elem elem, const Volume& v, std::int64_t chunk,
                              std::size_t budget) {
  auto p = std::make_shared<Plan>();
  p->op = op, p->g = g, p->elem = elem, p->elemBytes = elem == Elem::Float32 ? 4 : 2, p->v = v;
  p->F = v.planeFloats() / 2, p->chunk = chunk;
  const std::int64_t C = g.inChannels, O = g.outChannels;
  const std::size_t plane = sizeof(float) * static_cast<std::size_t>(v.planeFloats());
  const std::int64_t aPlanes = op == Op::BackwardData ? chunk * O : chunk * C;  // x, or dy for the data gradient
  const std::int64_t bPlanes = op == Op::BackwardData ? chunk * C : chunk * O;
  p->fixedBytes = aligned(plane * static_cast<std::size_t>(O * C));
  p->aBytes = aligned(plane * static_cast<std::size_t>(aPlanes));
  p->bBytes = aligned(plane * static_cast<std::size_t>(bPlanes));
  if (p->fixedBytes + p->aBytes + p->bBytes > budget) return nullptr;
  makeCufft(p->toA, v, CUFFT_R2C, aPlanes);
  if (op == Op::BackwardFilter) {
    makeCufft(p->toB, v, CUFFT_R2C, bPlanes);
    makeCufft(p->back, v, CUFFT_C2R, O * C);
  } else {
    makeCufft(p->toW, v, CUFFT_R2C, O * C);
    makeCufft(p->back, v, CUFFT_C2R, bPlanes);
  }
  p->workBytes = aligned(std::max({p->toA.work, p->toB.work, p->toW.work, p->back.work, std::size_t{1}}));
  if (p->fixedBytes + p->aBytes + p->bBytes + p->workBytes > budget) return nullptr;
  return p;
}

}  // namespace

std::shared_ptr<const Plan> makePlan(Op op, const ConvGeometry& g, DType dtype, std::size_t budgetBytes,
                                     std::int64_t maxChunk) {
  if (dtype != DType::Float32 && dtype != DType::BFloat16 && dtype != DType::Float16) return nullptr;
  if (g.kernelVolume() < 2 || g.batch < 1 || maxChunk < 1) return nullptr;
  constexpr std::int64_t kMaxGrid = 65535;  // the products' grid.y / grid.z bound the channel counts
  if (g.inChannels > kMaxGrid || g.outChannels > kMaxGrid) return nullptr;
  Volume v{};
  for (int a = 0; a < 3; ++a) {
    if (g.stride[a] != 1 || g.dilation[a] != 1 || g.padBegin[a] < 0 || g.padEnd[a] < 0) return nullptr;
    const std::int64_t padded = g.in[a] + g.padBegin[a] + g.padEnd[a];
    KAON_CHECK(padded - g.kernel[a] + 1 == g.out[a], "FFT convolution: inconsistent geometry {}", g.str());
    v.L[a] = fftSize(padded);  // >= padded: the outputs needed never wrap around
  }
  if (v.L[2] < 2) return nullptr;  // the halved axis of the real transforms must be a real axis
  v.row = 2 * (v.L[2] / 2 + 1);
  if (v.planeFloats() >= (std::int64_t{1} << 30)) return nullptr;  // the kernels index planes in 32 bits
  const Elem elem = dtype == DType::Float32 ? Elem::Float32 : dtype == DType::BFloat16 ? Elem::BFloat16 : Elem::Float16;
  const std::size_t plane = sizeof(float) * static_cast<std::size_t>(v.planeFloats());
  const std::int64_t fixed = g.inChannels * g.outChannels, perSample = g.inChannels + g.outChannels;
  if (budgetBytes / plane <= static_cast<std::size_t>(fixed)) return nullptr;
  std::int64_t chunk = std::min({g.batch, maxChunk, kMaxGrid,
                                 static_cast<std::int64_t>(budgetBytes / plane - fixed) / perSample});
  if (chunk < 1) return nullptr;
  const std::int64_t passes = (g.batch + chunk - 1) / chunk;
  chunk = (g.batch + passes - 1) / passes;  // even chunks: the last one is not a sliver
  for (;;) {  // cuFFT's work area comes on top: halve the chunk until everything fits
    if (auto p = tryPlan(op, g, elem, v, chunk, budgetBytes)) return p;
    if (chunk == 1) return nullptr;
    chunk = (chunk + 1) / 2;
  }
}

std::size_t workspaceBytes(const Plan& p) { return p.fixedBytes + p.aBytes + p.bBytes + p.workBytes; }
std::int64_t chunkSamples(const Plan& p) { return p.chunk; }
std::int64_t executions() { return gExecutions.load(); }

void run(const Plan& p, const void* x, const void* w, const void* y, void* output, double beta, void* workspace,
         cudaStream_t stream) {
  std::lock_guard lock(p.mutex);
  char* base = static_cast<char*>(workspace);
  float* fixed = reinterpret_cast<float*>(base);
  float* A = reinterpret_cast<float*>(base + p.fixedBytes);
  float* B = reinterpret_cast<float*>(base + p.fixedBytes + p.aBytes);
  void* work = base + p.fixedBytes + p.aBytes + p.bBytes;
  for (const CufftPlan* c : {&p.toA, &p.toB, &p.toW, &p.back}) useStream(*c, stream, work);

  const ConvGeometry& g = p.g;
  const std::int64_t N = g.batch, C = g.inChannels, O = g.outChannels, S = p.chunk, F = p.F;
  const std::int64_t in[3] = {g.in[0], g.in[1], g.in[2]}, out[3] = {g.out[0], g.out[1], g.out[2]};
  const std::int64_t kernel[3] = {g.kernel[0], g.kernel[1], g.kernel[2]}, origin[3] = {0, 0, 0};
  const std::int64_t pad[3] = {g.padBegin[0], g.padBegin[1], g.padBegin[2]};
  const float alpha = 1.f / static_cast<float>(p.v.L[0] * p.v.L[1] * p.v.L[2]);  // cuFFT does not normalise
  const std::size_t inSample = p.elemBytes * static_cast<std::size_t>(C * g.inSpatial());
  const std::size_t outSample = p.elemBytes * static_cast<std::size_t>(O * g.outSpatial());
  auto at = [](const void* ptr, std::size_t bytes) { return static_cast<const char*>(ptr) + bytes; };
  auto spectrum = [](float* f) { return reinterpret_cast<float2*>(f); };
  char* dst = static_cast<char*>(output);
  const float b = static_cast<float>(beta);

  if (p.op == Op::BackwardFilter) {
    for (std::int64_t n0 = 0; n0 < N; n0 += S) {
      const std::int64_t s = std::min(S, N - n0);
      pack(at(x, n0 * inSample), p.elem, in, pad, s * C, S * C, A, p.v, stream);
      pack(at(y, n0 * outSample), p.elem, out, origin, s * O, S * O, B, p.v, stream);
      forwardFft(p.toA, A);
      forwardFft(p.toB, B);
      // dw[o, c] += sum_n conj(DY[n, o]) X[n, c]: the chunks are summed in the frequency domain.
      spectralProduct(spectrum(B), spectrum(A), spectrum(fixed), Product{F, O, C, s, 1, O, 1, C, true, false, n0 > 0},
                      stream);
    }
    inverseFft(p.back, fixed);
    unpack(fixed, p.v, kernel, origin, O * C, alpha, b, output, p.elem, stream);
  } else {
    pack(w, p.elem, kernel, origin, O * C, O * C, fixed, p.v, stream);
    forwardFft(p.toW, fixed);
    const bool fwd = p.op == Op::Forward;
    for (std::int64_t n0 = 0; n0 < N; n0 += S) {
      const std::int64_t s = std::min(S, N - n0);
      if (fwd) {  // y[n, o] = sum_c X[n, c] conj(W[o, c])
        pack(at(x, n0 * inSample), p.elem, in, pad, s * C, S * C, A, p.v, stream);
        forwardFft(p.toA, A);
        spectralProduct(spectrum(A), spectrum(fixed), spectrum(B), Product{F, s, O, C, C, 1, C, 1, false, true, false},
                        stream);
        inverseFft(p.back, B);
        unpack(B, p.v, out, origin, s * O, alpha, b, dst + n0 * outSample, p.elem, stream);
      } else {  // dx[n, c] = sum_o DY[n, o] W[o, c], cropped by the padding
        pack(at(y, n0 * outSample), p.elem, out, origin, s * O, S * O, A, p.v, stream);
        forwardFft(p.toA, A);
        spectralProduct(spectrum(A), spectrum(fixed), spectrum(B), Product{F, s, C, O, O, 1, 1, C, false, false, false},
                        stream);
        inverseFft(p.back, B);
        unpack(B, p.v, in, pad, s * C, alpha, b, dst + n0 * inSample, p.elem, stream);
      }
    }
  }
  KAON_CUDA_CHECK(cudaGetLastError());
  ++gExecutions;
}

}  // namespace kaon::ops::cudak::fftconv
