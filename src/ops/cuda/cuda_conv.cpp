// Convolution through cuDNN (forward, backward data, backward filter), 1-3-D.
//
// Descriptors: 2-D work (depth 1, no depth padding) uses 4-D NCHW descriptors, everything else
// 5-D NCDHW. Padding: cuDNN pads symmetrically, so per axis the common part min(begin, end) goes
// to cuDNN and any asymmetric remainder (TF "same" padding with an even kernel or stride 2) is
// applied by an explicit zero-pad kernel on the input (forward, filter gradient) or cropped
// from a padded data gradient (backward data), costing one extra copy of the input.
// Algorithms: found once per (op, dtype, tensor-core math, geometry, beta) with
// cudnnFind*AlgorithmEx, bounded by a workspace limit, and cached; the engines of
// cuDNN's graph API (cudnn_graph_conv.hpp) are timed as well (every float type but double)
// and used when faster (KAON_CUDNN_ENGINES=auto, the default; `legacy` or `graph` force one side, `graph` only where
// an engine supports the geometry). Math: FP32 data uses CUDNN_FMA_MATH, i.e. true FP32 (no TF32
// tensor cores), for parity with the CPU backend, unless kaon::tf32Allowed(); BF16/FP16 data
// computes in FP32 (convolution descriptor type float) on tensor cores. The algorithm's math
// type is kept in the descriptor. All work runs on the device's compute stream.
#include <algorithm>
#include <vector>
#include <string>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <map>
#include <mutex>
#include <optional>
#include <atomic>

#include "../../cuda/cuda_check.hpp"
#include "../../cuda/cuda_context.hpp"
#include "cuda_kernels.hpp"
#include "conv_channels_last.hpp"
#include "conv_fft.hpp"
#include "conv_filter_gemm.hpp"
#include "conv_tuning.hpp"
#include "cudnn_graph_conv.hpp"
#include "kaon/core/precision.hpp"

namespace kaon::ops::cudak {
namespace {

// Workspace bound per convolution call: 4 GiB, or KAON_CUDNN_WORKSPACE_MB; never more than
// half the free device memory. 256 MiB (the bound before mixed precision) excluded the fast
// algorithms of large batches: the jet CNN's step at batch 256 on an H200 took 14.2 ms in
// fp32 and 5.6 ms in bf16 with it, 7.3 and 4.0 ms with 4 GiB (docs/benchmarks.md, section 6).
std::size_t workspaceBound() {
  static const std::size_t bound = [] {
    const char* env = std::getenv("KAON_CUDNN_WORKSPACE_MB");
    long mb = env ? std::strtol(env, nullptr, 10) : 4096;
    return static_cast<std::size_t>(mb > 0 ? mb : 4096) << 20;
  }();
  return bound;
}

enum class ConvOp { Forward, BackwardData, BackwardFilter };

// Tensor-core math: always for the 16-bit types, for FP32 only when TF32 is allowed.
bool tensorCoreMath(DType t) { return t == DType::BFloat16 || t == DType::Float16 || (t == DType::Float32 && tf32Allowed()); }

enum class EngineChoice { Auto, Legacy, Graph };

// KAON_CONV_CHANNELS_LAST: auto (default) times the channels-last engines (transposes included)
// beside the channels-first ones; 0 never; force (tests) uses them wherever an engine exists.
enum class ChannelsLast { Auto, Off, Force };
ChannelsLast channelsLastChoice() {
  const char* env = std::getenv("KAON_CONV_CHANNELS_LAST");
  std::string v = env ? env : "auto";
  if (v == "auto" || v.empty()) return ChannelsLast::Auto;
  if (v == "0") return ChannelsLast::Off;
  if (v == "force") return ChannelsLast::Force;
  KAON_FAIL("KAON_CONV_CHANNELS_LAST={}: expected auto, 0 or force", v);
}

// Read at every cache miss, so a test can switch it between geometries.
EngineChoice engineChoice() {
  const char* env = std::getenv("KAON_CUDNN_ENGINES");
  // auto: measured on an H200 on 2026-12-03 (docs/benchmarks.md section 8,
  // `KAON_CUDNN_VERBOSE=1 kaon-bench-gpu`) the graph engines take the 3DGAN's
  // filter gradients from 190 to 32 ms (d2) and the step from 852 to 498 ms; never slower.
  std::string v = env ? env : "auto";
  if (v == "auto" || v.empty()) return EngineChoice::Auto;
  if (v == "legacy") return EngineChoice::Legacy;
  if (v == "graph") return EngineChoice::Graph;
  KAON_FAIL("KAON_CUDNN_ENGINES={}: expected auto, legacy or graph", v);
}

cudnnDataType_t cudnnType(DType t) {
  switch (t) {
    case DType::Float32: return CUDNN_DATA_FLOAT;
    case DType::Float64: return CUDNN_DATA_DOUBLE;
    case DType::BFloat16: return CUDNN_DATA_BFLOAT16;
    case DType::Float16: return CUDNN_DATA_HALF;
    default: throw NotImplemented(fmt::format("conv for {} on the cuda backend", dtypeName(t)));
  }
}

// The convolution as cuDNN sees it: input enlarged by the explicit (asymmetric) padding.
struct Plan {
  ConvGeometry g;  // g.in = padded input; g.padBegin = g.padEnd = the symmetric part
  std::array<int, 3> extraBefore{0, 0, 0}, extraAfter{0, 0, 0};
  bool explicitPad = false;
  int nbDims = 5;
};

Plan makePlan(const ConvGeometry& g) {
  Plan p;
  p.g = g;
  for (int a = 0; a < 3; ++a) {
    int m = std::min(g.padBegin[a], g.padEnd[a]);
    KAON_CHECK(m >= 0, "conv on the cuda backend: negative padding {}/{} is not supported", g.padBegin[a], g.padEnd[a]);
    p.extraBefore[a] = g.padBegin[a] - m;
    p.extraAfter[a] = g.padEnd[a] - m;
    p.explicitPad = p.explicitPad || p.extraBefore[a] != 0 || p.extraAfter[a] != 0;
    p.g.in[a] = g.in[a] + p.extraBefore[a] + p.extraAfter[a];
    p.g.padBegin[a] = p.g.padEnd[a] = m;
  }
  bool flat = p.g.in[0] == 1 && p.g.kernel[0] == 1 && p.g.out[0] == 1 && p.g.padBegin[0] == 0;
  p.nbDims = flat ? 4 : 5;
  return p;
}

std::string planKey(ConvOp op, DType dt, int device, const Plan& p, double beta, EngineChoice choice) {
  const ConvGeometry& g = p.g;
  const char* filterGemm = std::getenv("KAON_CONV_FILTER_GEMM");  // part of the choice too
  const char* fft = std::getenv("KAON_CONV_FFT");
  return fmt::format("{}|{}{}|{}|{}|{}{}/{}{}|{}|{},{},{}|{}|{}|{}|{}|{}|{}", static_cast<int>(op), static_cast<int>(dt),
                     tensorCoreMath(dt) ? "tc" : "", device, beta, static_cast<int>(choice), filterGemm ? filterGemm : "",
                     fft ? fft : "",
                     static_cast<int>(channelsLastChoice()),
                     p.nbDims, g.batch, g.inChannels, g.outChannels, fmt::join(g.in, ","), fmt::join(g.out, ","),
                     fmt::join(g.kernel, ","), fmt::join(g.stride, ","), fmt::join(g.padBegin, ","),
                     fmt::join(g.dilation, ","));
}

// RAII descriptors for one plan.
struct Descriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;

  Descriptors(const Plan& p, DType dtype) {
    const ConvGeometry& g = p.g;
    const cudnnDataType_t dt = cudnnType(dtype);
    // Accumulation type: float for the 16-bit storage types.
    const cudnnDataType_t compute = dtype == DType::Float64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
    const int first = p.nbDims == 4 ? 1 : 0;  // first spatial axis used
    const int nsp = p.nbDims - 2;
    auto dims = [&](std::int64_t n, std::int64_t c, const std::array<std::int64_t, 3>& s) {
      std::vector<int> d{static_cast<int>(n), static_cast<int>(c)};
      for (int a = first; a < 3; ++a) d.push_back(static_cast<int>(s[a]));
      return d;
    };
    auto packed = [](const std::vector<int>& d) {
      std::vector<int> st(d.size());
      int acc = 1;
      for (int i = static_cast<int>(d.size()) - 1; i >= 0; --i) st[i] = acc, acc *= d[i];
      return st;
    };
    std::vector<int> xd = dims(g.batch, g.inChannels, g.in), yd = dims(g.batch, g.outChannels, g.out);
    std::vector<int> wd = dims(g.outChannels, g.inChannels, g.kernel);
    std::vector<int> pad, stride, dil;
    for (int a = first; a < 3; ++a) pad.push_back(g.padBegin[a]), stride.push_back(g.stride[a]), dil.push_back(g.dilation[a]);
    KAON_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    KAON_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    KAON_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    KAON_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    KAON_CUDNN_CHECK(cudnnSetTensorNdDescriptor(x, dt, p.nbDims, xd.data(), packed(xd).data()));
    KAON_CUDNN_CHECK(cudnnSetTensorNdDescriptor(y, dt, p.nbDims, yd.data(), packed(yd).data()));
    KAON_CUDNN_CHECK(cudnnSetFilterNdDescriptor(w, dt, CUDNN_TENSOR_NCHW, p.nbDims, wd.data()));
    KAON_CUDNN_CHECK(cudnnSetConvolutionNdDescriptor(conv, nsp, pad.data(), stride.data(), dil.data(),
                                                     CUDNN_CROSS_CORRELATION, compute));
    KAON_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, tensorCoreMath(dtype) ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
    std::vector<int> od(p.nbDims);
    KAON_CUDNN_CHECK(cudnnGetConvolutionNdForwardOutputDim(conv, x, w, p.nbDims, od.data()));
    KAON_CHECK(od == yd, "cuDNN output shape differs from Kaon's for {}", g.str());
  }
  ~Descriptors() {
    cudnnDestroyConvolutionDescriptor(conv);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(x);
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
};

struct Algo {
  int algo = 0;
  std::size_t workspace = 0;
  cudnnMathType_t math = CUDNN_FMA_MATH;
  float ms = 0;  // as timed by cudnnFind*
};

// Per (op, dtype, device, geometry): the descriptors (immutable once made) and the algorithm.
struct Entry {
  std::unique_ptr<Descriptors> d;
  Algo a;
  graph::Tuned graph;         // plan set: the graph-API engine is used instead of the legacy one
  graph::Tuned channelsLast;  // plan set: transposes around a channels-last engine (before graph)
  std::shared_ptr<const fftconv::Plan> fft;  // set: through cuFFT (after channels-last)
  std::int64_t filterGemmChunk = 0;  // > 0: filter gradient by im2col + cuBLAS, this many samples at a time (after FFT)
  float bestMs = 0;                  // the chosen path's tuned time
};
std::mutex gCacheMutex;
std::map<std::string, Entry> gCache;  // entries are never erased: references stay valid

// Scratch device memory from the caching allocator, in bytes.
Tensor scratch(std::size_t bytes, Device device) {
  return Tensor::empty(Shape{static_cast<std::int64_t>(std::max<std::size_t>(bytes, 1))}, DType::UInt8, device);
}

std::size_t workspaceLimit() {
  std::size_t freeBytes = 0, total = 0;
  KAON_CUDA_CHECK(cudaMemGetInfo(&freeBytes, &total));
  return std::min(workspaceBound(), freeBytes / 2);
}

// The fastest successful algorithm within the workspace limit; strict FP32/FP64 excludes
// tensor-core math.
template <class Perf>
Algo pick(const Perf* perf, int count, std::size_t limit, bool tensorCores, const std::string& what) {
  for (int i = 0; i < count; ++i) {
    const bool tc = perf[i].mathType == CUDNN_TENSOR_OP_MATH || perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= limit && (tensorCores || !tc))
      return {static_cast<int>(perf[i].algo), perf[i].memory, perf[i].mathType, perf[i].time};
  }
  KAON_FAIL("cuDNN found no {} algorithm within {} bytes of workspace for {}", tensorCores ? "" : "strict FP32/FP64",
            limit, what);
}

// The convolution of a plan as the graph API describes it (packed NC[D]HW tensors).
graph::ConvDesc graphDesc(ConvOp op, const Plan& p, DType dtype, double beta) {
  const ConvGeometry& g = p.g;
  const int first = p.nbDims == 4 ? 1 : 0;
  graph::ConvDesc d;
  d.op = op == ConvOp::Forward ? graph::Op::Forward : op == ConvOp::BackwardData ? graph::Op::BackwardData
                                                                                 : graph::Op::BackwardFilter;
  d.x = {g.batch, g.inChannels};
  d.w = {g.outChannels, g.inChannels};
  d.y = {g.batch, g.outChannels};
  for (int a = first; a < 3; ++a) {
    d.x.push_back(g.in[a]), d.w.push_back(g.kernel[a]), d.y.push_back(g.out[a]);
    d.pad.push_back(g.padBegin[a]), d.stride.push_back(g.stride[a]), d.dilation.push_back(g.dilation[a]);
  }
  d.data = cudnnType(dtype);
  d.allowTensorCores = tensorCoreMath(dtype);  // TF32 or 16-bit data; accumulation stays FP32
  d.beta = beta;
  return d;
}

// Host scalars in the data type cuDNN expects (float for FP32 data, double for FP64).
struct Scalar {
  float f;
  double d;
  Scalar(double v) : f(static_cast<float>(v)), d(v) {}
  const void* get(DType t) const { return t == DType::Float64 ? static_cast<const void*>(&d) : &f; }
};

// The op through cuDNN's legacy algorithm `a` into `out` (beta 0): the reference that own
// paths are checked against before they are used.
void runLegacy(ConvOp op, const Descriptors& d, const Algo& a, DType dt, cudnnHandle_t h, const void* x, const void* w,
               const void* y, void* out, void* ws) {
  Scalar one(1.0), zero(0.0);
  if (op == ConvOp::Forward)
    KAON_CUDNN_CHECK(cudnnConvolutionForward(h, one.get(dt), d.x, x, d.w, w, d.conv,
                                             static_cast<cudnnConvolutionFwdAlgo_t>(a.algo), ws, a.workspace,
                                             zero.get(dt), d.y, out));
  else if (op == ConvOp::BackwardData)
    KAON_CUDNN_CHECK(cudnnConvolutionBackwardData(h, one.get(dt), d.w, w, d.y, y, d.conv,
                                                  static_cast<cudnnConvolutionBwdDataAlgo_t>(a.algo), ws, a.workspace,
                                                  zero.get(dt), d.x, out));
  else
    KAON_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, one.get(dt), d.x, x, d.y, y, d.conv,
                                                    static_cast<cudnnConvolutionBwdFilterAlgo_t>(a.algo), ws,
                                                    a.workspace, zero.get(dt), d.w, out));
}

const char* opName(ConvOp op) {
  return op == ConvOp::Forward ? "fwd" : op == ConvOp::BackwardData ? "bwd-data" : "bwd-filter";
}

// auto (default), 0 or force, from an environment variable.
std::string ownPathChoice(const char* name) {
  const std::string v = std::getenv(name) ? std::getenv(name) : "auto";
  KAON_CHECK(v == "auto" || v == "0" || v == "force", "{}={}: expected auto, 0 or force", name, v);
  return v;
}

// The im2col + cuBLAS filter gradient (conv_filter_gemm.hpp): its chunk of samples when it is
// clearly faster than `bestMs` (the best so far) and its result agrees with cuDNN's, else 0.
// KAON_CONV_FILTER_GEMM=0 turns it off; `force` (for tests) uses it untimed, 2 samples per chunk.
std::int64_t tuneFilterGemm(const Descriptors& d, const Algo& a, float bestMs, const ConvGeometry& g, const void* x,
                            const void* dy, Tensor& out, Tensor& ws, std::size_t limit, Device dev) {
  const std::string env = ownPathChoice("KAON_CONV_FILTER_GEMM");
  if (env == "0") return 0;
  const std::size_t perSample = filtergemm::bytesPerSample(g);
  // Chunks of at most 1 GiB of column matrices: big enough for the batched GEMM, small enough
  // to leave the memory to the model.
  const std::size_t budget = std::min<std::size_t>(limit, std::size_t{1} << 30);
  const std::int64_t chunk = std::min<std::int64_t>(g.batch, static_cast<std::int64_t>(budget / perSample));
  const std::int64_t CK = g.inChannels * g.kernelVolume();
  if (chunk < 1 || CK > (1 << 30) || g.outSpatial() > (1 << 30)) return 0;
  if (env == "force") return std::min<std::int64_t>(chunk, 2);  // tests: always, several chunks
  const auto& ctx = kaon::cuda::context(dev.index);
  const float ms = timeOnce([&] {
    filtergemm::backwardFilter(static_cast<const float*>(x), static_cast<const float*>(dy), static_cast<float*>(out.raw()), 0.0, g,
                               chunk, ws.raw(), ctx.cublas, ctx.compute);
  }, ctx.compute);
  const bool faster = ms < 0.9f * bestMs;
  double error = -1;
  if (faster) {  // the same gradient from cuDNN's legacy algorithm
    Tensor ref = scratch(out.numel(), dev);
    runLegacy(ConvOp::BackwardFilter, d, a, DType::Float32, ctx.cudnn, x, nullptr, dy, ref.raw(), ws.raw());
    error = normalisedError(out.raw(), ref.raw(), g.outChannels * CK, DType::Float32, ctx.compute);
  }
  const bool use = faster && error >= 0 && error < 1e-4;
  if (std::getenv("KAON_CUDNN_VERBOSE"))
    std::fprintf(stderr, "kaon conv bwd-filter %s: im2col+cublas %.3f ms (chunk %lld) vs %.3f ms%s%s\n", g.str().c_str(),
                 ms, static_cast<long long>(chunk), bestMs, faster ? "" : ", slower",
                 !faster ? "" : use ? ", used" : fmt::format(", REJECTED: differs from cuDNN by {:.2e}", error).c_str());
  return use ? chunk : 0;
}

// The FFT path (conv_fft.hpp) when it is clearly faster than `bestMs` (the best so far; updated)
// and its result agrees with cuDNN's legacy algorithm on the same inputs, else null.
// KAON_CONV_FFT=0 turns it off; `force` (tests) uses it wherever it applies, 2 samples per chunk,
// and fails loudly if it disagrees.
std::shared_ptr<const fftconv::Plan> tuneFft(ConvOp op, const Descriptors& d, const Algo& a, float& bestMs,
                                             const ConvGeometry& g, DType dtype, const void* x, const void* w,
                                             const void* y, Tensor& out, Tensor& ws, std::size_t limit, Device dev) {
  const std::string env = ownPathChoice("KAON_CONV_FFT");
  if (env == "0") return nullptr;
  const bool force = env == "force";
  const fftconv::Op fop = op == ConvOp::Forward        ? fftconv::Op::Forward
                          : op == ConvOp::BackwardData ? fftconv::Op::BackwardData
                                                       : fftconv::Op::BackwardFilter;
  // At most 1 GiB of spectra, like the im2col path's columns.
  auto plan = fftconv::makePlan(fop, g, dtype, std::min<std::size_t>(limit, std::size_t{1} << 30), force ? 2 : g.batch);
  if (!plan) return nullptr;
  const auto& ctx = kaon::cuda::context(dev.index);
  const float ms = timeOnce([&] { fftconv::run(*plan, x, w, y, out.raw(), 0.0, ws.raw(), ctx.compute); }, ctx.compute);
  const bool faster = force || ms < 0.9f * bestMs;
  double error = -1;
  if (faster) {
    Tensor ref = scratch(out.numel(), dev);
    runLegacy(op, d, a, dtype, ctx.cudnn, x, w, y, ref.raw(), ws.raw());
    const std::int64_t n = static_cast<std::int64_t>(out.numel() / dtypeSize(dtype));
    error = normalisedError(out.raw(), ref.raw(), n, dtype, ctx.compute);
  }
  // FP32 FFTs against strict FP32: rounding only; 16-bit or TF32 references are coarser.
  const double tolerance = dtype == DType::Float32 && !tensorCoreMath(dtype) ? 1e-4 : 2e-2;
  const bool use = faster && error >= 0 && error < tolerance;
  if (faster && !use) {
    const std::string what = fmt::format("kaon conv {} {}: the FFT path differs from cuDNN by {:.2e} (tolerance {:.0e})",
                                         opName(op), g.str(), error, tolerance);
    KAON_CHECK(!force, "KAON_CONV_FFT=force: {}", what);
    std::fprintf(stderr, "%s; not used\n", what.c_str());
  }
  if (std::getenv("KAON_CUDNN_VERBOSE"))
    std::fprintf(stderr, "kaon conv %s %s: fft %.3f ms (chunk %lld, %.0f MiB) vs %.3f ms%s\n", opName(op),
                 g.str().c_str(), ms, static_cast<long long>(fftconv::chunkSamples(*plan)),
                 fftconv::workspaceBytes(*plan) / 1048576.0, bestMs, use ? ", used" : faster ? "" : ", slower");
  if (!use) return nullptr;
  bestMs = ms;
  return plan;
}

// Makes the descriptors and finds the algorithm once per op, plan and beta, then returns them
// from the cache. The searches run the candidates on real inputs (x, w, y as given) and write
// their trial outputs to scratch, so outputs accumulated with beta != 0 are never clobbered.
const Entry& prepare(ConvOp op, const Plan& p, DType dtype, Device dev, const void* x, const void* w, const void* y,
                     double beta) {
  const EngineChoice choice = engineChoice();
  std::string key = planKey(op, dtype, dev.index, p, beta, choice);
  {
    std::lock_guard lock(gCacheMutex);
    auto it = gCache.find(key);
    if (it != gCache.end()) return it->second;
  }
  auto owned = std::make_unique<Descriptors>(p, dtype);
  const Descriptors& d = *owned;
  cudnnHandle_t h = kaon::cuda::context(dev.index).cudnn;
  std::size_t limit = workspaceLimit();
  Tensor ws = scratch(limit, dev);
  constexpr int kMax = 16;
  int count = 0;
  Entry entry;
  Algo& a = entry.a;
  const std::size_t elem = dtypeSize(dtype);
  const ConvGeometry& g = p.g;
  const std::int64_t outElems = op == ConvOp::Forward        ? g.batch * g.outChannels * g.outSpatial()
                                : op == ConvOp::BackwardData ? g.batch * g.inChannels * g.inSpatial()
                                                             : g.outChannels * g.inChannels * g.kernelVolume();
  Tensor out = scratch(static_cast<std::size_t>(outElems) * elem, dev);
  if (op == ConvOp::Forward) {
    cudnnConvolutionFwdAlgoPerf_t perf[kMax];
    KAON_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, d.x, x, d.w, w, d.conv, d.y, out.raw(), kMax, &count,
                                                            perf, ws.raw(), limit));
    a = pick(perf, count, limit, tensorCoreMath(dtype), g.str());
  } else if (op == ConvOp::BackwardData) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[kMax];
    KAON_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(h, d.w, w, d.y, y, d.conv, d.x, out.raw(), kMax,
                                                                 &count, perf, ws.raw(), limit));
    a = pick(perf, count, limit, tensorCoreMath(dtype), g.str());
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[kMax];
    KAON_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(h, d.x, x, d.y, y, d.conv, d.w, out.raw(), kMax,
                                                                   &count, perf, ws.raw(), limit));
    a = pick(perf, count, limit, tensorCoreMath(dtype), g.str());
  }
  KAON_CUDNN_CHECK(cudnnSetConvolutionMathType(owned->conv, a.math));
  // Graph engines are timed beside the legacy algorithm for every float type but double.
  if (choice != EngineChoice::Legacy && dtype != DType::Float64) {
    void* px = op == ConvOp::BackwardData ? out.raw() : const_cast<void*>(x);
    void* pw = op == ConvOp::BackwardFilter ? out.raw() : const_cast<void*>(w);
    void* py = op == ConvOp::Forward ? out.raw() : const_cast<void*>(y);
    if (graph::aligned(px) && graph::aligned(pw) && graph::aligned(py)) {
      graph::Tuned t = graph::tune(h, graphDesc(op, p, dtype, beta), px, pw, py, ws.raw(), limit);
      // Auto: the graph engine only when clearly faster (timings of single runs are noisy).
      if (std::getenv("KAON_CUDNN_VERBOSE"))
        std::fprintf(stderr, "kaon conv %s %s beta %g: legacy algo %d %.3f ms, graph engine %lld %.3f ms\n",
                     opName(op), g.str().c_str(), beta, a.algo, a.ms, static_cast<long long>(t.engineId), t.plan ? t.ms : -1.0f);
      if (t.plan && (choice == EngineChoice::Graph || t.ms < 0.9f * a.ms)) entry.graph = std::move(t);
    }
  }
  float bestMs = entry.graph.plan ? entry.graph.ms : a.ms;
  const ChannelsLast cl = channelsLastChoice();
  if (cl != ChannelsLast::Off && choice != EngineChoice::Legacy && dtype != DType::Float64) {
    channelslast::Operands o{&g, dtype, dev, op == ConvOp::BackwardData ? out.raw() : const_cast<void*>(x),
                             op == ConvOp::BackwardFilter ? out.raw() : const_cast<void*>(w),
                             op == ConvOp::Forward ? out.raw() : const_cast<void*>(y), 0.0};
    // An optional candidate: if its transposed copies do not fit in memory (the allocator's
    // error), the other candidates serve. A failing CUDA call would fail again at the next check.
    graph::Tuned t;
    try {
      t = channelslast::tune(h, graphDesc(op, p, dtype, 0.0), o, ws.raw(), limit);
    } catch (const Error& e) {
      if (std::getenv("KAON_CUDNN_VERBOSE")) std::fprintf(stderr, "kaon conv: channels-last candidate skipped: %s\n", e.what());
      t = {};
    }
    if (std::getenv("KAON_CUDNN_VERBOSE"))
      std::fprintf(stderr, "kaon conv %s %s: channels-last engine %lld %.3f ms with transposes vs %.3f ms\n",
                   opName(op), g.str().c_str(), static_cast<long long>(t.engineId), t.plan ? t.ms : -1.0f, bestMs);
    // Auto: only when clearly faster (the transposes' memory is the price).
    if (t.plan && (cl == ChannelsLast::Force || t.ms < 0.9f * bestMs)) {
      bestMs = t.ms;
      entry.channelsLast = std::move(t);
    }
  }
  // Not when an engine side is forced (tests of those paths count their executions).
  if (choice == EngineChoice::Auto && cl != ChannelsLast::Force)
    entry.fft = tuneFft(op, d, a, bestMs, g, dtype, x, w, y, out, ws, limit, dev);
  if (op == ConvOp::BackwardFilter && choice != EngineChoice::Legacy && dtype == DType::Float32 && !tensorCoreMath(dtype) &&
      cl != ChannelsLast::Force)
    entry.filterGemmChunk = tuneFilterGemm(d, a, bestMs, g, x, y, out, ws, limit, dev);
  entry.bestMs = bestMs;
  entry.d = std::move(owned);
  std::lock_guard lock(gCacheMutex);
  auto [it, inserted] = gCache.try_emplace(key, std::move(entry));
  return it->second;  // another thread may have won the race: its entry is as good
}

// Runs the entry's FFT plan if it has one: reads two of x, w, y and writes `output` with beta.
bool runFft(const Entry& e, Device dev, const void* x, const void* w, const void* y, void* output, double beta) {
  if (!e.fft) return false;
  Tensor ws = scratch(fftconv::workspaceBytes(*e.fft), dev);
  fftconv::run(*e.fft, x, w, y, output, beta, ws.raw(), kaon::cuda::context(dev.index).compute);
  return true;
}

// Runs the entry's channels-last plan if it has one (operands in Kaon's layout).
bool runChannelsLast(const Entry& e, ConvOp op, const ConvGeometry& g, DType dtype, Device dev, const void* x,
                     const void* w, const void* y, double beta) {
  if (!e.channelsLast.plan) return false;
  const graph::Op gop = op == ConvOp::Forward ? graph::Op::Forward : op == ConvOp::BackwardData ? graph::Op::BackwardData
                                                                                             : graph::Op::BackwardFilter;
  channelslast::Operands o{&g, dtype, dev, const_cast<void*>(x), const_cast<void*>(w), const_cast<void*>(y), beta};
  channelslast::run(kaon::cuda::context(dev.index).cudnn, *e.channelsLast.plan, gop, o, e.channelsLast.workspace);
  return true;
}

// Runs the entry's graph plan if it has one and the buffers are aligned for it.
bool runGraph(const Entry& e, Device dev, void* x, void* w, void* y) {
  if (!e.graph.plan || !graph::aligned(x) || !graph::aligned(w) || !graph::aligned(y)) return false;
  Tensor ws = scratch(e.graph.workspace, dev);
  graph::execute(kaon::cuda::context(dev.index).cudnn, *e.graph.plan, x, w, y, ws.raw());
  return true;
}


// 5-D views [N, C, D, H, W] of a tensor with the original / padded spatial sizes.
Shape shape5(std::int64_t n, std::int64_t c, const std::array<std::int64_t, 3>& s) { return Shape{n, c, s[0], s[1], s[2]}; }

// x [N, C, *in] -> zero-padded [N, C, *plan.g.in] (explicit, asymmetric part only).
Tensor padInput(const Tensor& x, const ConvGeometry& g, const Plan& p) {
  Tensor xp = Tensor::empty(shape5(g.batch, g.inChannels, p.g.in), x.dtype(), x.device());
  padForward(x.reshape(shape5(g.batch, g.inChannels, g.in)), xp, p.extraBefore);
  return xp;
}

}  // namespace

namespace {

// y [N, OC, *out] = conv(x [N, C, *in], w [OC, C, *K]) on the plan's engine.
const Entry& convForwardPlain(const Tensor& x, const Tensor& w, const Tensor& y, const ConvGeometry& g) {
  Plan p = makePlan(g);
  Tensor xin = p.explicitPad ? padInput(x, g, p) : x;
  const Entry& e = prepare(ConvOp::Forward, p, x.dtype(), x.device(), xin.raw(), w.raw(), y.raw(), 0.0);
  if (runFft(e, x.device(), xin.raw(), w.raw(), nullptr, y.raw(), 0.0)) return e;
  if (runChannelsLast(e, ConvOp::Forward, p.g, x.dtype(), x.device(), xin.raw(), w.raw(), y.raw(), 0.0)) return e;
  if (runGraph(e, x.device(), xin.raw(), w.raw(), y.raw())) return e;
  const Descriptors& d = *e.d;
  const Algo& a = e.a;
  Tensor ws = scratch(a.workspace, x.device());
  Scalar one(1.0), zero(0.0);
  KAON_CUDNN_CHECK(cudnnConvolutionForward(kaon::cuda::context(x.device().index).cudnn, one.get(x.dtype()), d.x, xin.raw(),
                                           d.w, w.raw(), d.conv, static_cast<cudnnConvolutionFwdAlgo_t>(a.algo),
                                           ws.raw(), a.workspace, zero.get(x.dtype()), d.y, y.raw()));
  return e;
}

// t [A, C, *S] -> [A, kPaddedChannels, *S], the extra channels zero.
constexpr std::int64_t kPaddedChannels = 8;
Tensor padChannels(const Tensor& t, const std::array<std::int64_t, 3>& spatial) {
  const std::int64_t a = t.shape()[0], c = t.shape()[1];
  Tensor out = Tensor::empty(shape5(a, kPaddedChannels, spatial), t.dtype(), t.device());
  // As 5-D [A, 1, C, S0 * S1, S2]: the channels are the padded "depth" axis, zero at its end.
  padForward(t.reshape(Shape{a, 1, c, spatial[0] * spatial[1], spatial[2]}),
             out.reshape(Shape{a, 1, kPaddedChannels, spatial[0] * spatial[1], spatial[2]}), {0, 0, 0});
  return out;
}

std::atomic<std::int64_t> gChannelPadRuns{0};

// Forward convolutions of 1-7 input channels in tensor-core math (bf16, fp16, TF32): cuDNN's
// tensor-core kernels want multiples of 8 channels, so such a layer (an image network's first:
// the jet CNN's 3 channels, 0.40 ms of its 3.3 ms bf16 step in a legacy FMA kernel) runs on the
// slow kernels. Padded with zero channels (input and weights) the tensor-core kernels apply and
// the result is the same: the zero channels add nothing. Timed once per geometry, the two
// copies included, and used when 10% faster (KAON_CONV_PAD_CHANNELS=auto|0|force).
bool convForwardChannelPadded(const Tensor& x, const Tensor& w, const Tensor& y, const ConvGeometry& g) {
  const DType dt = x.dtype();
  if (g.inChannels >= kPaddedChannels || dt == DType::Float64 || !tensorCoreMath(dt)) return false;
  const std::string env = ownPathChoice("KAON_CONV_PAD_CHANNELS");
  if (env == "0") return false;
  ConvGeometry g8 = g;
  g8.inChannels = kPaddedChannels;
  static std::mutex mutex;
  static std::map<std::string, bool> decided;
  const std::string key = planKey(ConvOp::Forward, dt, x.device().index, makePlan(g), 0.0, engineChoice()) + "|" + env;
  std::optional<bool> use;
  {
    std::lock_guard lock(mutex);
    if (auto it = decided.find(key); it != decided.end()) use = it->second;
  }
  if (!use) {
    const float plainMs = convForwardPlain(x, w, y, g).bestMs;
    const auto& ctx = kaon::cuda::context(x.device().index);
    Tensor x8, w8;
    const float padMs = timeOnce([&] { x8 = padChannels(x, g.in), w8 = padChannels(w, g.kernel); }, ctx.compute);
    const float paddedMs = convForwardPlain(x8, w8, y, g8).bestMs + padMs;
    use = env == "force" || paddedMs < 0.9f * plainMs;
    if (std::getenv("KAON_CUDNN_VERBOSE"))
      std::fprintf(stderr, "kaon conv fwd %s: %lld -> %lld zero-padded channels %.3f ms (copies %.3f) vs %.3f ms%s\n",
                   g.str().c_str(), static_cast<long long>(g.inChannels), static_cast<long long>(kPaddedChannels),
                   paddedMs, padMs, plainMs, *use ? ", used" : "");
    std::lock_guard lock(mutex);
    decided.emplace(key, *use);
  }
  if (!*use) return false;
  convForwardPlain(padChannels(x, g.in), padChannels(w, g.kernel), y, g8);
  ++gChannelPadRuns;
  return true;
}

}  // namespace

// y [N, OC, *out] = conv(x [N, C, *in], w [OC, C, *K])
void convForward(const Tensor& x, const Tensor& w, const Tensor& y, const ConvGeometry& g) {
  if (y.numel() == 0) return;
  if (!convForwardChannelPadded(x, w, y, g)) convForwardPlain(x, w, y, g);
}

std::int64_t channelPadRuns() { return gChannelPadRuns.load(); }

// y = act(conv(x, w) + b): cuDNN's convolution, then one pass for bias and activation (instead
// of a bias pass and an activation pass).
void convForwardFused(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y, const ConvGeometry& g,
                      Activation act, double alpha) {
  convForward(x, w, y, g);
  if (b.defined() || act != Activation::Identity) biasActivation(y, b, act, alpha);
}

// dx [N, C, *in] = beta*dx + conv^T(dy [N, OC, *out], w)
void convBackwardData(const Tensor& dy, const Tensor& w, const Tensor& dx, double beta, const ConvGeometry& g) {
  if (dx.numel() == 0) return;
  Plan p = makePlan(g);
  const Entry& e = prepare(ConvOp::BackwardData, p, dy.dtype(), dy.device(), nullptr, w.raw(), dy.raw(),
                           p.explicitPad ? 0.0 : beta);
  const Descriptors& d = *e.d;
  const Algo& a = e.a;
  Tensor ws = scratch(a.workspace, dy.device());
  cudnnHandle_t h = kaon::cuda::context(dy.device().index).cudnn;
  Scalar one(1.0), zero(0.0), b(beta);
  if (!p.explicitPad) {
    if (runFft(e, dy.device(), nullptr, w.raw(), dy.raw(), dx.raw(), beta)) return;
    if (runChannelsLast(e, ConvOp::BackwardData, p.g, dy.dtype(), dy.device(), dx.raw(), w.raw(), dy.raw(), beta)) return;
    if (runGraph(e, dy.device(), dx.raw(), w.raw(), dy.raw())) return;
    KAON_CUDNN_CHECK(cudnnConvolutionBackwardData(h, one.get(dy.dtype()), d.w, w.raw(), d.y, dy.raw(), d.conv,
                                                  static_cast<cudnnConvolutionBwdDataAlgo_t>(a.algo), ws.raw(),
                                                  a.workspace, b.get(dy.dtype()), d.x, dx.raw()));
    return;
  }
  // Gradient of the padded input, then its interior accumulated into dx with beta.
  Tensor dxp = Tensor::empty(shape5(g.batch, g.inChannels, p.g.in), dy.dtype(), dy.device());
  if (!runFft(e, dy.device(), nullptr, w.raw(), dy.raw(), dxp.raw(), 0.0) &&
      !runChannelsLast(e, ConvOp::BackwardData, p.g, dy.dtype(), dy.device(), dxp.raw(), w.raw(), dy.raw(), 0.0) &&
      !runGraph(e, dy.device(), dxp.raw(), w.raw(), dy.raw()))
    KAON_CUDNN_CHECK(cudnnConvolutionBackwardData(h, one.get(dy.dtype()), d.w, w.raw(), d.y, dy.raw(), d.conv,
                                                  static_cast<cudnnConvolutionBwdDataAlgo_t>(a.algo), ws.raw(),
                                                  a.workspace, zero.get(dy.dtype()), d.x, dxp.raw()));
  padBackward(dxp, dx.reshape(shape5(g.batch, g.inChannels, g.in)), beta, p.extraBefore);
}

// dw [OC, C, *K] = beta*dw + dconv/dw(x [N, C, *in], dy [N, OC, *out])
void convBackwardFilter(const Tensor& x, const Tensor& dy, const Tensor& dw, double beta, const ConvGeometry& g) {
  if (dw.numel() == 0) return;
  Plan p = makePlan(g);
  Tensor xin = p.explicitPad ? padInput(x, g, p) : x;
  const Entry& e = prepare(ConvOp::BackwardFilter, p, x.dtype(), x.device(), xin.raw(), nullptr, dy.raw(), beta);
  if (e.filterGemmChunk > 0) {
    const auto& ctx = kaon::cuda::context(x.device().index);
    Tensor ws = scratch(static_cast<std::size_t>(e.filterGemmChunk) * filtergemm::bytesPerSample(p.g), x.device());
    filtergemm::backwardFilter(xin.data<float>(), dy.data<float>(), dw.data<float>(), beta, p.g, e.filterGemmChunk,
                               ws.raw(), ctx.cublas, ctx.compute);
    return;
  }
  if (runFft(e, x.device(), xin.raw(), nullptr, dy.raw(), dw.raw(), beta)) return;
  if (runChannelsLast(e, ConvOp::BackwardFilter, p.g, x.dtype(), x.device(), xin.raw(), dw.raw(), dy.raw(), beta)) return;
  if (runGraph(e, x.device(), xin.raw(), dw.raw(), dy.raw())) return;
  const Descriptors& d = *e.d;
  const Algo& a = e.a;
  Tensor ws = scratch(a.workspace, x.device());
  Scalar one(1.0), b(beta);
  KAON_CUDNN_CHECK(cudnnConvolutionBackwardFilter(kaon::cuda::context(x.device().index).cudnn, one.get(x.dtype()), d.x,
                                                  xin.raw(), d.y, dy.raw(), d.conv,
                                                  static_cast<cudnnConvolutionBwdFilterAlgo_t>(a.algo), ws.raw(),
                                                  a.workspace, b.get(x.dtype()), d.w, dw.raw()));
}

}  // namespace kaon::ops::cudak
