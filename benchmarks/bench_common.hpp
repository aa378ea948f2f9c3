#pragma once
// Shared plumbing of bench_gemm and bench_conv: thread setup (Kaon and OpenBLAS get the same
// count) and a console reporter that ends with a table "case, GFLOP/s per implementation,
// ratio subject/baseline".
//
// Benchmark names are "<group>/<impl>/<case>"; runs with the same group and case are compared.
#include <benchmark/benchmark.h>

#include <string>

namespace kaon::bench {

// Strips "--threads=N" from argv (default: all cores this process may use), applies it to
// Kaon and OpenBLAS, and returns it.
int setupThreads(int& argc, char** argv);

// GFLOP/s counter for a benchmark doing `flops` per iteration.
inline void setFlops(benchmark::State& state, double flops) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

// Initialises Google Benchmark, runs everything registered, prints the ratio table of
// `subject` against `baseline`. Returns main()'s exit code.
int runAndCompare(int argc, char** argv, const std::string& subject, const std::string& baseline);

}  // namespace kaon::bench
