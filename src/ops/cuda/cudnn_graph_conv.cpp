// cuDNN graph (backend) API for single-convolution graphs: heuristics -> execution plans ->
// timed on real buffers -> the fastest kept. See cudnn_graph_conv.hpp.
#include "cudnn_graph_conv.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <string>
#include <cuda_runtime.h>

#include "kaon/core/error.hpp"

namespace kaon::ops::cudak::graph {
namespace {

// Thrown inside this file only: any backend call failing while a candidate is built or run
// disqualifies that candidate (or the whole graph path), never the caller's convolution.
struct BackendFailure {
  cudnnStatus_t status;
};

void check(cudnnStatus_t s) {
  if (s != CUDNN_STATUS_SUCCESS) throw BackendFailure{s};
}

// One backend descriptor, destroyed with its owner.
class Desc {
 public:
  explicit Desc(cudnnBackendDescriptorType_t type) { check(cudnnBackendCreateDescriptor(type, &d_)); }
  ~Desc() {
    if (d_) cudnnBackendDestroyDescriptor(d_);
  }
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;

  template <class T>
  Desc& set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, const T* values, std::int64_t count = 1) {
    check(cudnnBackendSetAttribute(d_, name, type, count, values));
    return *this;
  }
  Desc& set(cudnnBackendAttributeName_t name, const Desc& other) {
    cudnnBackendDescriptor_t o = other.get();
    return set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, &o);
  }
  Desc& setInts(cudnnBackendAttributeName_t name, const std::vector<std::int64_t>& v) {
    return set(name, CUDNN_TYPE_INT64, v.data(), static_cast<std::int64_t>(v.size()));
  }
  Desc& finalize() {
    check(cudnnBackendFinalize(d_));
    return *this;
  }
  cudnnBackendDescriptor_t get() const { return d_; }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

std::vector<std::int64_t> packedStrides(const std::vector<std::int64_t>& dims) {
  std::vector<std::int64_t> s(dims.size());
  std::int64_t acc = 1;
  for (std::size_t i = dims.size(); i-- > 0;) s[i] = acc, acc *= dims[i];
  return s;
}

// Dims [N, C, *S] stored as [N, *S, C]: C is the fastest axis.
std::vector<std::int64_t> channelsLastStrides(const std::vector<std::int64_t>& dims) {
  std::vector<std::int64_t> s(dims.size());
  std::int64_t acc = dims[1];
  s[1] = 1;
  for (std::size_t i = dims.size(); i-- > 2;) s[i] = acc, acc *= dims[i];
  s[0] = acc;
  return s;
}

std::unique_ptr<Desc> tensorDesc(const std::vector<std::int64_t>& dims, cudnnDataType_t type, std::int64_t uid,
                                 bool channelsLast) {
  auto t = std::make_unique<Desc>(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  const std::int64_t alignment = 16;
  t->set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, &type)
      .setInts(CUDNN_ATTR_TENSOR_DIMENSIONS, dims)
      .setInts(CUDNN_ATTR_TENSOR_STRIDES, channelsLast ? channelsLastStrides(dims) : packedStrides(dims))
      .set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, &uid)
      .set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, &alignment)
      .finalize();
  return t;
}

constexpr std::array<std::int64_t, 3> kUids{1, 2, 3};  // x, w, y in every variant pack

template <class T>
std::vector<T> notes(cudnnBackendDescriptor_t engine, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
                     int max) {
  std::vector<T> v(static_cast<std::size_t>(max));
  std::int64_t n = 0;
  check(cudnnBackendGetAttribute(engine, name, type, max, &n, v.data()));
  v.resize(static_cast<std::size_t>(n));
  return v;
}

// The tensors, convolution, operation and operation graph of one convolution: shared by all its
// candidate plans (an engine configuration refers to the graph it was found for).
struct Graph {
  std::unique_ptr<Desc> x, w, y, conv, op, graph;
};

}  // namespace

struct Plan {
  std::shared_ptr<const Graph> graph;
  std::unique_ptr<Desc> config, engine, plan;
  std::int64_t workspace = 0;
};

namespace {

std::shared_ptr<Graph> buildGraph(cudnnHandle_t handle, const ConvDesc& d) {
  auto p = std::make_shared<Graph>();
  p->x = tensorDesc(d.x, d.data, kUids[0], d.channelsLast);
  p->w = tensorDesc(d.w, d.data, kUids[1], d.channelsLast);
  p->y = tensorDesc(d.y, d.data, kUids[2], d.channelsLast);
  const cudnnDataType_t compute = d.data == CUDNN_DATA_DOUBLE ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  const std::int64_t spatial = static_cast<std::int64_t>(d.pad.size());
  p->conv = std::make_unique<Desc>(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  p->conv->set(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, &compute)
      .set(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, &mode)
      .set(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, &spatial)
      .setInts(CUDNN_ATTR_CONVOLUTION_DILATIONS, d.dilation)
      .setInts(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, d.stride)
      .setInts(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, d.pad)
      .setInts(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, d.pad)
      .finalize();

  // alpha and beta in the compute type
  const float af = static_cast<float>(d.alpha), bf = static_cast<float>(d.beta);
  const cudnnBackendAttributeType_t st = compute == CUDNN_DATA_DOUBLE ? CUDNN_TYPE_DOUBLE : CUDNN_TYPE_FLOAT;
  const void* a = compute == CUDNN_DATA_DOUBLE ? static_cast<const void*>(&d.alpha) : &af;
  const void* b = compute == CUDNN_DATA_DOUBLE ? static_cast<const void*>(&d.beta) : &bf;
  switch (d.op) {
    case Op::Forward:
      p->op = std::make_unique<Desc>(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
      p->op->set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, st, a)
          .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, st, b)
          .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, *p->conv)
          .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, *p->x)
          .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, *p->w)
          .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, *p->y);
      break;
    case Op::BackwardData:
      p->op = std::make_unique<Desc>(CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR);
      p->op->set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, st, a)
          .set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA, st, b)
          .set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, *p->conv)
          .set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX, *p->x)
          .set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, *p->w)
          .set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY, *p->y);
      break;
    case Op::BackwardFilter:
      p->op = std::make_unique<Desc>(CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR);
      p->op->set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA, st, a)
          .set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA, st, b)
          .set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC, *p->conv)
          .set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X, *p->x)
          .set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW, *p->w)
          .set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY, *p->y);
      break;
  }
  p->op->finalize();
  cudnnBackendDescriptor_t ops = p->op->get();
  p->graph = std::make_unique<Desc>(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  p->graph->set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, &ops)
      .set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, &handle)
      .finalize();
  return p;
}

// Engine configurations suggested by the heuristics in `mode`, best first.
std::vector<std::unique_ptr<Desc>> heuristicConfigs(const Graph& g, cudnnBackendHeurMode_t mode, int max) {
  Desc heur(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  heur.set(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, *g.graph)
      .set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, &mode)
      .finalize();
  std::int64_t available = 0;
  check(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &available,
                                 nullptr));
  const std::int64_t n = std::min<std::int64_t>(available, max);
  std::vector<std::unique_ptr<Desc>> configs;
  std::vector<cudnnBackendDescriptor_t> raw;
  for (std::int64_t i = 0; i < n; ++i) {
    configs.push_back(std::make_unique<Desc>(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
    raw.push_back(configs.back()->get());
  }
  std::int64_t got = 0;
  if (n > 0)
    check(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, n, &got,
                                   raw.data()));
  configs.resize(static_cast<std::size_t>(std::min(got, n)));
  return configs;
}

// Builds one candidate plan on the shared graph; null if its numerics are not allowed or cuDNN
// cannot build it.
std::shared_ptr<Plan> candidate(cudnnHandle_t handle, const std::shared_ptr<const Graph>& g, std::unique_ptr<Desc> config,
                                const ConvDesc& d) {
  auto p = std::make_shared<Plan>();
  p->graph = g;
  p->config = std::move(config);
  p->engine = std::make_unique<Desc>(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  cudnnBackendDescriptor_t e = p->engine->get();
  std::int64_t n = 0;
  try {
    check(cudnnBackendGetAttribute(p->config->get(), CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &e));
    // Accumulation is FP32 always (reduced-precision reductions are refused); strict FP32 also
    // refuses tensor cores and inputs down-converted to TF32.
    for (cudnnBackendNumericalNote_t note : notes<cudnnBackendNumericalNote_t>(
             e, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE, CUDNN_NUMERICAL_NOTE_TYPE_COUNT))
      if (note == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION ||
          (!d.allowTensorCores &&
           (note == CUDNN_NUMERICAL_NOTE_TENSOR_CORE || note == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS)))
        return nullptr;
    // Engines compiled at run time cost up to seconds per geometry to build; opt in.
    static const bool allowRtc = [] {
      const char* v = std::getenv("KAON_CUDNN_RTC");
      return v && std::string(v) == "1";
    }();
    if (!allowRtc)
      for (cudnnBackendBehaviorNote_t note : notes<cudnnBackendBehaviorNote_t>(
               e, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE, CUDNN_BEHAVIOR_NOTE_TYPE_COUNT))
        if (note == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) return nullptr;
    p->plan = std::make_unique<Desc>(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
    cudnnBackendDescriptor_t cfg = p->config->get();
    p->plan->set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, &handle)
        .set(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, &cfg)
        .finalize();
    check(cudnnBackendGetAttribute(p->plan->get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n,
                                   &p->workspace));
  } catch (const BackendFailure&) {
    return nullptr;
  }
  return p;
}

std::int64_t engineIndex(const Plan& p) {
  std::int64_t id = -1, n = 0;
  if (cudnnBackendGetAttribute(p.engine->get(), CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n, &id) !=
      CUDNN_STATUS_SUCCESS)
    return -1;
  return id;
}

void run(cudnnHandle_t handle, const Plan& p, void* x, void* w, void* y, void* workspace) {
  std::array<void*, 3> ptrs{x, w, y};
  Desc pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, kUids.data(), 3)
      .set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, ptrs.data(), 3)
      .set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, &workspace)
      .finalize();
  check(cudnnBackendExecute(handle, p.plan->get(), pack.get()));
}

}  // namespace

Tuned tune(cudnnHandle_t handle, const ConvDesc& d, void* x, void* w, void* y, void* workspace,
           std::size_t workspaceLimit, int maxCandidates) {
  Tuned best;
  cudaStream_t stream = nullptr;
  if (cudnnGetStream(handle, &stream) != CUDNN_STATUS_SUCCESS) return best;
  cudaEvent_t start = nullptr, stop = nullptr;
  if (cudaEventCreate(&start) != cudaSuccess || cudaEventCreate(&stop) != cudaSuccess) {
    cudaGetLastError();
    if (start) cudaEventDestroy(start);
    return best;
  }
  try {
    std::shared_ptr<const Graph> g = buildGraph(handle, d);
    // Mode A's list, then the fallback list, as PyTorch's benchmark mode does (strict FP32 rules
    // out the tensor-core engines mode A ranks first, and the fallback engines are sometimes the
    // fastest for odd 3-D kernels); candidates are filtered before timing, an engine (with its
    // knobs) suggested by both lists is timed once.
    std::vector<std::shared_ptr<Plan>> allowed;
    std::vector<std::int64_t> seen;
    for (cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
      try {
        int fromMode = 0;
        for (std::unique_ptr<Desc>& config : heuristicConfigs(*g, mode, 64)) {
          if (fromMode >= maxCandidates) break;
          std::shared_ptr<Plan> c = candidate(handle, g, std::move(config), d);
          if (!c || c->workspace < 0 || static_cast<std::size_t>(c->workspace) > workspaceLimit) continue;
          const std::int64_t id = engineIndex(*c);
          if (std::find(seen.begin(), seen.end(), id) != seen.end() && mode == CUDNN_HEUR_MODE_FALLBACK) continue;
          seen.push_back(id);
          allowed.push_back(c);
          ++fromMode;
        }
      } catch (const BackendFailure&) {
        // this heuristics mode does not support the graph; try the next
      }
    }
    for (const std::shared_ptr<Plan>& c : allowed) {
      float ms = 1e30f;
      bool ok = true;
      try {
        // Warm-up (and any lazy set-up), timed: a candidate far slower than the best so far is
        // not timed again (some fallback engines take seconds on large batches).
        float first = 0;
        ok = cudaEventRecord(start, stream) == cudaSuccess;
        run(handle, *c, x, w, y, workspace);
        ok = ok && cudaEventRecord(stop, stream) == cudaSuccess && cudaEventSynchronize(stop) == cudaSuccess &&
             cudaEventElapsedTime(&first, start, stop) == cudaSuccess;
        if (ok && best.plan && first > 3 * best.ms) continue;
        for (int rep = 0; rep < 2 && ok; ++rep) {
          float t = 0;
          ok = cudaEventRecord(start, stream) == cudaSuccess;
          run(handle, *c, x, w, y, workspace);
          ok = ok && cudaEventRecord(stop, stream) == cudaSuccess && cudaEventSynchronize(stop) == cudaSuccess &&
               cudaEventElapsedTime(&t, start, stop) == cudaSuccess;
          ms = std::min(ms, t);
        }
      } catch (const BackendFailure&) {
        ok = false;
      }
      cudaGetLastError();  // a failed candidate must not leave a launch error behind
      if (!ok || (best.plan && ms >= best.ms)) continue;
      best = Tuned{c, ms, static_cast<std::size_t>(c->workspace), engineIndex(*c)};
    }
  } catch (const BackendFailure&) {
    // no graph for this convolution: the legacy path serves it
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return best;
}

namespace {
std::atomic<std::int64_t> gExecutions{0};
}

std::int64_t executions() { return gExecutions.load(); }

void execute(cudnnHandle_t handle, const Plan& plan, void* x, void* w, void* y, void* workspace) {
  ++gExecutions;
  try {
    run(handle, plan, x, w, y, workspace);
  } catch (const BackendFailure& f) {
    KAON_FAIL("cuDNN graph-API convolution failed: {}", cudnnGetErrorString(f.status));
  }
}

}  // namespace kaon::ops::cudak::graph
