// The roofline of this machine: peak float32 FMA throughput (independent AVX2 FMA chains per
// thread, all in registers) and memory bandwidth (STREAM-like copy/triad/read over arrays far
// larger than the caches). Prints best-of-N numbers for 1 thread and for all threads.
//
//   bench_roofline [threads]
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// 10 independent accumulators hide the 5-cycle FMA latency on 2 FMA pipes.
float fmaKernel(long iters, float seed) {
  __m256 a[10];
  for (int i = 0; i < 10; ++i) a[i] = _mm256_set1_ps(seed + i);
  const __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < 10; ++i) a[i] = _mm256_fmadd_ps(a[i], b, c);
  __m256 s = a[0];
  for (int i = 1; i < 10; ++i) s = _mm256_add_ps(s, a[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
}

double peakGflops(int threads) {
  const long iters = 200'000'000 / 10;
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    volatile float sink = 0;
    double t0 = now();
#pragma omp parallel num_threads(threads)
    { sink = sink + fmaKernel(iters, omp_get_thread_num()); }
    double t = now() - t0;
    best = std::max(best, 2.0 * 8 * 10 * iters * threads / t / 1e9);
  }
  return best;
}

struct Bandwidth {
  double copy, triad, read;
};

Bandwidth bandwidth(int threads) {
  const std::size_t n = 64ull << 20;  // 64 Mi floats = 256 MiB per array
  float* a = static_cast<float*>(std::aligned_alloc(64, n * 4));
  float* b = static_cast<float*>(std::aligned_alloc(64, n * 4));
  float* c = static_cast<float*>(std::aligned_alloc(64, n * 4));
#pragma omp parallel for num_threads(threads)
  for (std::size_t i = 0; i < n; ++i) a[i] = 1.f, b[i] = 2.f, c[i] = 0.f;
  Bandwidth best{0, 0, 0};
  for (int rep = 0; rep < 5; ++rep) {
    double t0 = now();
#pragma omp parallel for num_threads(threads)
    for (std::size_t i = 0; i < n; ++i) c[i] = a[i];
    double t1 = now();
#pragma omp parallel for num_threads(threads)
    for (std::size_t i = 0; i < n; ++i) c[i] = a[i] + 3.f * b[i];
    double t2 = now();
    float s = 0;
#pragma omp parallel for simd num_threads(threads) reduction(+ : s)
    for (std::size_t i = 0; i < n; ++i) s += a[i];
    double t3 = now();
    if (s < 0) std::puts("");
    best.copy = std::max(best.copy, 2.0 * n * 4 / (t1 - t0) / 1e9);
    best.triad = std::max(best.triad, 3.0 * n * 4 / (t2 - t1) / 1e9);
    best.read = std::max(best.read, 1.0 * n * 4 / (t3 - t2) / 1e9);
  }
  std::free(a), std::free(b), std::free(c);
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int all = argc > 1 ? std::atoi(argv[1]) : omp_get_num_procs();
  std::printf("%-8s %14s %12s %12s %12s\n", "threads", "FMA GFLOP/s", "copy GB/s", "triad GB/s", "read GB/s");
  for (int t : {1, all}) {
    double g = peakGflops(t);
    Bandwidth bw = bandwidth(t);
    std::printf("%-8d %14.1f %12.1f %12.1f %12.1f\n", t, g, bw.copy, bw.triad, bw.read);
    if (all == 1) break;
  }
  return 0;
}
