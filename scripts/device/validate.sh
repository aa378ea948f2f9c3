#!/usr/bin/env bash
# One-call GPU validation for the lent single-GPU machine (about 7 minutes): CUDA build, the GPU
# test suite, then the cuDNN engine comparison (legacy cudnnFind vs graph-API engines) on the
# kernel bench and on the 3DGAN step, with the PyTorch twin of the step.
#   OUT=/tmp/out [BUILD=/tmp/b] scripts/device/validate.sh      # from the repo root
set -u
: "${OUT:?set OUT to a log directory}"
BUILD="${BUILD:-/tmp/b}"
mkdir -p "$OUT"
S="$OUT/summary.txt"
log() { echo "$*" | tee -a "$S"; }
log "# $(date -u '+%Y-%m-%d %H:%M UTC') $(git rev-parse --short HEAD 2>/dev/null) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
t0=$SECONDS
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DKAON_WITH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DKAON_BUILD_BENCHMARKS=ON > "$OUT/cmake.log" 2>&1 || { log "configure failed"; tail -30 "$OUT/cmake.log"; exit 1; }
timeout 260 cmake --build "$BUILD" -j16 --target test_gpu kaon-bench-gpu kaon-bench-models kaon-bench-gpu-models \
  > "$OUT/build.log" 2>&1 || { log "build failed"; grep -E "error" -A3 "$OUT/build.log" | head -40; exit 1; }
log "build: $((SECONDS - t0)) s"
t0=$SECONDS
timeout "${TEST_TIMEOUT:-200}" "$BUILD/tests/test_gpu" ${GTEST_FILTER:+--gtest_filter=$GTEST_FILTER} > "$OUT/test_gpu.log" 2>&1
log "test_gpu: rc $? in $((SECONDS - t0)) s; $(grep -cE '^\[       OK' "$OUT/test_gpu.log") ok, $(grep -cE '^\[  FAILED  \] [A-Z]' "$OUT/test_gpu.log") failed lines"
grep -E '^\[  FAILED  \]' "$OUT/test_gpu.log" | sort -u | head -20 | tee -a "$S"
grep -B3 -A10 "Failure" "$OUT/test_gpu.log" | head -60 > "$OUT/test_gpu_failures.txt"
for e in legacy auto; do
  t0=$SECONDS
  KAON_CUDNN_ENGINES=$e KAON_CUDNN_VERBOSE=1 timeout 90 "$BUILD/benchmarks/kaon-bench-gpu" > "$OUT/ops_$e.csv" 2> "$OUT/ops_$e.err"
  log "kaon-bench-gpu engines=$e: rc $? in $((SECONDS - t0)) s"
done
paste -d, "$OUT/ops_legacy.csv" "$OUT/ops_auto.csv" | tee -a "$S"
for e in legacy auto; do
  log "== 3DGAN step, batch 128, fp32, engines=$e"
  KAON_CUDNN_ENGINES=$e timeout 90 "$BUILD/benchmarks/kaon-bench-models" --model gan3d --device cuda --batch 128 \
    --steps 5 --warmup 2 2>&1 | tee -a "$S"
done
log "== PyTorch twin"
timeout 120 python3 benchmarks/gpu/bench_torch_3dgan.py --device cuda --batch 128 --steps 5 --warmup 2 \
  --variants "eager fp32,bf16 channels_last" 2>&1 | tee -a "$S"
log "# done $(date -u '+%H:%M:%S')"
