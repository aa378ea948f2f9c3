// ops::gemm (float32) against cblas_sgemm (OpenBLAS) on the same inputs and thread count.
//
// Cases: square M=N=K in 128..2048 with every transpose combination, and the GEMMs the jet CNN
// runs (per-sample im2col shapes: forward W*col, backward-data W^T*dY, backward-filter dY*col^T;
// the batched forward; the dense layers). Ends with a table of GFLOP/s and kaon/openblas.
//
//   bench_gemm [--threads=N] [google-benchmark flags, e.g. --benchmark_filter=square]
#include <cblas.h>
#include <fmt/format.h>

#include <random>

#include "bench_common.hpp"
#include "kaon/core/tensor.hpp"
#include "kaon/ops/linalg.hpp"

using namespace kaon;

namespace {

Tensor randomTensor(const Shape& s, std::uint64_t seed) {
  Tensor t = Tensor::empty(s);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  for (float& v : t.span<float>()) v = d(rng);
  return t;
}

struct Case {
  std::string name;
  std::int64_t m, n, k;
  bool ta, tb;
};

void registerCase(const Case& c) {
  // A is [M, K] or, transposed, [K, M]; B is [K, N] or [N, K]; all row-major.
  auto make = [c](bool openblas) {
    return [c, openblas](benchmark::State& state) {
      Tensor a = randomTensor(c.ta ? Shape{c.k, c.m} : Shape{c.m, c.k}, 1);
      Tensor b = randomTensor(c.tb ? Shape{c.n, c.k} : Shape{c.k, c.n}, 2);
      Tensor out = Tensor::zeros(Shape{c.m, c.n});
      for (auto _ : state) {
        if (openblas)
          cblas_sgemm(CblasRowMajor, c.ta ? CblasTrans : CblasNoTrans, c.tb ? CblasTrans : CblasNoTrans,
                      static_cast<int>(c.m), static_cast<int>(c.n), static_cast<int>(c.k), 1.f, a.data<float>(),
                      static_cast<int>(a.dim(1)), b.data<float>(), static_cast<int>(b.dim(1)), 0.f,
                      out.data<float>(), static_cast<int>(c.n));
        else
          ops::gemm(c.ta, c.tb, 1.0, a, b, 0.0, out);
        benchmark::DoNotOptimize(out.data<float>());
        benchmark::ClobberMemory();
      }
      kaon::bench::setFlops(state, 2.0 * c.m * c.n * c.k);
    };
  };
  for (bool openblas : {false, true}) {
    std::string name = fmt::format("gemm/{}/{}", openblas ? "openblas" : "kaon", c.name);
    benchmark::RegisterBenchmark(name.c_str(), make(openblas))->UseRealTime()->Unit(benchmark::kMillisecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  kaon::bench::setupThreads(argc, argv);
  for (std::int64_t s : {128, 256, 512, 1024, 2048})
    for (int t = 0; t < 4; ++t) {
      bool ta = t & 2, tb = t & 1;
      registerCase({fmt::format("square/{}{}/{}", ta ? 'T' : 'N', tb ? 'T' : 'N', s), s, s, s, ta, tb});
    }
  // jet CNN, batch 32 (C -> OC at H x W, 3x3 same): M, N, K per sample.
  const std::vector<Case> jet = {
      {"jet/conv1.fwd   128x4096x27", 128, 4096, 27, false, false},
      {"jet/conv1.bwdW  128x27x4096", 128, 27, 4096, false, true},
      {"jet/conv2.fwd   128x1024x1152", 128, 1024, 1152, false, false},
      {"jet/conv2.bwdX  1152x1024x128", 1152, 1024, 128, true, false},
      {"jet/conv2.bwdW  128x1152x1024", 128, 1152, 1024, false, true},
      {"jet/conv2.fwdB8 128x8192x1152", 128, 8192, 1152, false, false},
      {"jet/conv3.fwd   128x256x1152", 128, 256, 1152, false, false},
      {"jet/conv3.bwdX  1152x256x128", 1152, 256, 128, true, false},
      {"jet/conv3.bwdW  128x1152x256", 128, 1152, 256, false, true},
      {"jet/fc1.fwd     32x512x8192", 32, 512, 8192, false, true},
      {"jet/fc1.bwdX    32x8192x512", 32, 8192, 512, false, false},
      {"jet/fc1.bwdW    512x8192x32", 512, 8192, 32, true, false},
  };
  for (const auto& c : jet) {
    Case named = c;
    std::string n = c.name;
    n.erase(std::unique(n.begin(), n.end(), [](char x, char y) { return x == ' ' && y == ' '; }), n.end());
    std::replace(n.begin(), n.end(), ' ', '/');
    named.name = n;
    registerCase(named);
  }
  return kaon::bench::runAndCompare(argc, argv, "kaon", "openblas");
}
