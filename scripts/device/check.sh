#!/usr/bin/env bash
# A short GPU check (about 3 minutes): build test_gpu, run the given tests, then the same under
# compute-sanitizer memcheck.  OUT=/tmp/out [BUILD=/tmp/b] FILTER='GpuLayout.*' scripts/device/check.sh
set -u
: "${OUT:?set OUT to a log directory}"
BUILD="${BUILD:-/tmp/b}"
FILTER="${FILTER:-GpuLayout.*:GpuPointwise.*:GpuConvChannelsLast.*:GpuConvGraphEngines.*}"
mkdir -p "$OUT"
S="$OUT/summary.txt"
log() { echo "$*" | tee -a "$S"; }
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DKAON_WITH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 > "$OUT/cmake.log" 2>&1 ||
  { log "configure failed"; exit 1; }
timeout 200 cmake --build "$BUILD" -j16 --target test_gpu > "$OUT/build.log" 2>&1 ||
  { log "build failed"; grep -E "error" -A3 "$OUT/build.log" | head -30 | tee -a "$S"; exit 1; }
log "build: $SECONDS s"
timeout 60 "$BUILD/tests/test_gpu" --gtest_filter="$FILTER" > "$OUT/test.log" 2>&1
log "tests rc $?: $(grep -E '^\[  (PASSED|FAILED) +\] [0-9]+ test' "$OUT/test.log" | tr '\n' ' ')"
grep -A8 "Failure" "$OUT/test.log" | head -30 | tee -a "$S"
CS=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
timeout 120 "$CS" --tool memcheck --error-exitcode 9 "$BUILD/tests/test_gpu" --gtest_filter="$FILTER" > "$OUT/memcheck.log" 2>&1
log "memcheck rc $? (9: errors; 124: timed out): $(grep -E 'ERROR SUMMARY' "$OUT/memcheck.log" | tail -1)"
grep -E '^\[  (PASSED|FAILED) +\]' "$OUT/memcheck.log" | tee -a "$S"
