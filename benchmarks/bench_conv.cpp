// Convolution forward, backward-data and backward-filter GFLOP/s on the layers of the jet CNN,
// SRCNN and 3DGAN, through the public ops (ops::conv, ops::convBackwardData,
// ops::convBackwardParams; no bias), so allocation of the outputs is included as in training.
//
// Baseline "gemmonly": the same per-sample im2col GEMMs done by cblas_sgemm (OpenBLAS) on a
// prepared column buffer, without the im2col/col2im work itself: an optimistic bound for any
// im2col+BLAS implementation (the time an im2col conv cannot beat with this BLAS).
//
//   bench_conv [--threads=N] [google-benchmark flags]
#include <cblas.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <random>

#include "bench_common.hpp"
#include "kaon/core/tensor.hpp"
#include "kaon/ops/activation.hpp"
#include "kaon/ops/conv.hpp"

using namespace kaon;

namespace {

Tensor randomTensor(const Shape& s, std::uint64_t seed) {
  Tensor t = Tensor::empty(s);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  for (float& v : t.span<float>()) v = d(rng);
  return t;
}

struct Layer {
  std::string name;
  std::int64_t batch, c, oc;
  std::vector<std::int64_t> spatial, kernel;  // "same" padding, stride 1
};

enum class Dir { Fwd, BwdData, BwdFilter };
const char* dirName(Dir d) { return d == Dir::Fwd ? "fwd" : d == Dir::BwdData ? "bwdX" : "bwdW"; }

void registerLayer(const Layer& l) {
  std::vector<std::int64_t> xd{l.batch, l.c}, wd{l.oc, l.c};
  xd.insert(xd.end(), l.spatial.begin(), l.spatial.end());
  wd.insert(wd.end(), l.kernel.begin(), l.kernel.end());
  const Shape xs(xd), ws(wd);
  ops::ConvParams p = ops::samePadding(l.spatial, l.kernel, {});
  ops::ConvGeometry g = ops::convGeometry(xs, ws, p);
  const std::int64_t CK = g.inChannels * g.kernelVolume(), P = g.outSpatial();
  const double flops = 2.0 * g.batch * g.outChannels * CK * P;
  std::string shape = fmt::format("{}x{}->{}@{}k{}", l.batch, l.c, l.oc, fmt::join(l.spatial, "x"), fmt::join(l.kernel, "x"));
  for (Dir d : {Dir::Fwd, Dir::BwdData, Dir::BwdFilter}) {
    auto kaonFn = [=](benchmark::State& state) {
      Tensor x = randomTensor(xs, 1), w = randomTensor(ws, 2), dy = randomTensor(g.outputShape(), 3);
      Tensor dw = Tensor::zeros(ws);
      for (auto _ : state) {
        if (d == Dir::Fwd) benchmark::DoNotOptimize(ops::conv(x, w, Tensor(), p).raw());
        else if (d == Dir::BwdData) benchmark::DoNotOptimize(ops::convBackwardData(dy, w, xs, p).raw());
        else ops::convBackwardParams(x, dy, dw, Tensor(), 0.0, p);
        benchmark::ClobberMemory();
      }
      kaon::bench::setFlops(state, flops);
    };
    auto blasFn = [=](benchmark::State& state) {
      const int oc = static_cast<int>(g.outChannels), ck = static_cast<int>(CK), pp = static_cast<int>(P);
      Tensor col = randomTensor(Shape{CK, P}, 1), w = randomTensor(ws, 2), y = randomTensor(g.outputShape(), 3);
      Tensor dw = Tensor::zeros(ws);
      for (auto _ : state) {
        for (std::int64_t n = 0; n < g.batch; ++n) {
          float* yn = y.data<float>() + n * oc * P;
          if (d == Dir::Fwd)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, oc, pp, ck, 1.f, w.data<float>(), ck,
                        col.data<float>(), pp, 0.f, yn, pp);
          else if (d == Dir::BwdData)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ck, pp, oc, 1.f, w.data<float>(), ck, yn, pp, 0.f,
                        col.data<float>(), pp);
          else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, oc, ck, pp, 1.f, yn, pp, col.data<float>(), pp,
                        1.f, dw.data<float>(), ck);
        }
        benchmark::ClobberMemory();
      }
      kaon::bench::setFlops(state, flops);
    };
    benchmark::RegisterBenchmark(fmt::format("conv/kaon/{}/{}/{}", l.name, dirName(d), shape).c_str(), kaonFn)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(fmt::format("conv/gemmonly/{}/{}/{}", l.name, dirName(d), shape).c_str(), blasFn)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  // Forward with bias + ReLU as the Conv layer runs it: the fused op (one pass over y) against
  // conv, biasAdd and activation as three ops (the layer before the fused epilogue). Kaon rows
  // only (no baseline); compare the two rows of a layer.
  for (bool fused : {true, false}) {
    auto fn = [=](benchmark::State& state) {
      Tensor x = randomTensor(xs, 1), w = randomTensor(ws, 2), b = randomTensor(Shape{g.outChannels}, 3);
      for (auto _ : state) {
        if (fused) {
          benchmark::DoNotOptimize(ops::conv(x, w, b, p, ops::Activation::Relu).raw());
        } else {
          Tensor z = ops::conv(x, w, Tensor(), p);
          ops::biasAdd(z, b);
          benchmark::DoNotOptimize(ops::activation(ops::Activation::Relu, z).raw());
        }
        benchmark::ClobberMemory();
      }
      kaon::bench::setFlops(state, flops);
    };
    benchmark::RegisterBenchmark(
        fmt::format("conv/kaon/{}/fwd+bias+relu {}/{}", l.name, fused ? "fused" : "3 ops", shape).c_str(), fn)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  kaon::bench::setupThreads(argc, argv);
  const std::vector<Layer> layers = {
      {"jet.conv1", 32, 3, 128, {64, 64}, {3, 3}},
      {"jet.conv2", 32, 128, 128, {32, 32}, {3, 3}},
      {"jet.conv3", 32, 128, 128, {16, 16}, {3, 3}},
      {"srcnn.conv1", 8, 2, 64, {64, 64}, {9, 9}},
      {"srcnn.conv2", 8, 64, 32, {64, 64}, {3, 3}},
      {"srcnn.conv3", 8, 32, 1, {64, 64}, {5, 5}},
      {"3dgan.conv1", 32, 1, 8, {25, 25, 25}, {5, 6, 6}},
      {"3dgan.conv1b", 32, 1, 8, {25, 25, 25}, {6, 6, 8}},
  };
  for (const auto& l : layers) registerLayer(l);
  return kaon::bench::runAndCompare(argc, argv, "kaon", "gemmonly");
}
