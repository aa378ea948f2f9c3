#!/usr/bin/env bash
# The session's one GPU run (under 10 minutes on the lent H200): one CUDA build, the whole GPU
# suite, a compute-sanitizer memcheck of the op tests, the kernel bench with the engine choices
# printed, then the per-helper scripts under scripts/device/ (3DGAN precisions, CPU-rank
# scaling), and the reference models per precision against PyTorch. Steps are skipped once the
# time budget (BUDGET seconds, default 570) would be exceeded.
#   OUT=/tmp/out [BUILD=/tmp/b] scripts/device/final.sh      # from the repo root
set -u
: "${OUT:?set OUT to a log directory}"
export BUILD="${BUILD:-/tmp/b}" OUT
BUDGET="${BUDGET:-570}"
mkdir -p "$OUT"
S="$OUT/summary.txt"
log() { echo "$*" | tee -a "$S"; }
left() { echo $((BUDGET - SECONDS)); }
step() {  # step NAME SECONDS-NEEDED: false (and a note) when the budget is short; SKIP: a regex of names
  if [ -n "${SKIP:-}" ] && [[ "$1" =~ $SKIP ]]; then log "== $1: skipped (SKIP)"; return 1; fi
  if (($(left) < $2)); then log "== $1: skipped ($(left) s left, needs $2)"; return 1; fi
  log "== $1 ($(date -u +%H:%M:%S), $(left) s left)"
}
log "# $(date -u '+%Y-%m-%d %H:%M UTC') $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DKAON_WITH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DKAON_BUILD_BENCHMARKS=ON > "$OUT/cmake.log" 2>&1 || { log "configure failed"; tail -30 "$OUT/cmake.log"; exit 1; }
timeout 240 cmake --build "$BUILD" -j16 --target test_gpu kaon-bench-gpu kaon-bench-models kaon-bench-gpu-models \
  kaon-bench-scaling > "$OUT/build.log" 2>&1 || { log "build failed"; grep -E "error" -A3 "$OUT/build.log" | head -40 | tee -a "$S"; exit 1; }
log "build: $SECONDS s"

if step "test_gpu (all)" 60; then
  t0=$SECONDS
  timeout 120 "$BUILD/tests/test_gpu" > "$OUT/test_gpu.log" 2>&1
  log "rc $? in $((SECONDS - t0)) s: $(grep -cE '^\[       OK' "$OUT/test_gpu.log") ok; $(grep -E '^\[  (PASSED|SKIPPED|FAILED) +\] [0-9]+ test' "$OUT/test_gpu.log" | tr -s ' ' | tr '\n' ' ')"
  grep -E '^\[  FAILED  \] [A-Z]' "$OUT/test_gpu.log" | sort -u | tee -a "$S"
  grep -B2 -A10 "Failure" "$OUT/test_gpu.log" | head -80 > "$OUT/test_gpu_failures.txt"
  grep -E "im2col|graph engine" "$OUT/test_gpu.log" | head -5 >> "$S"
fi

if step "kernel bench, engine choices printed" 60; then
  KAON_CUDNN_VERBOSE=1 timeout 90 "$BUILD/benchmarks/kaon-bench-gpu" > "$OUT/ops.csv" 2> "$OUT/ops_choices.txt"
  log "rc $?"; grep -E "gan_|conv3d" "$OUT/ops.csv" | tr '\n' ' ' | tee -a "$S"; echo | tee -a "$S"
  grep -E "im2col" "$OUT/ops_choices.txt" | tee -a "$S"
fi

if step "3DGAN precisions (scripts/device/ganmp.sh)" 130; then
  timeout 200 bash scripts/device/ganmp.sh > "$OUT/ganmp.out" 2>&1; log "rc $?"; cat "$OUT/ganmp_summary.txt" >> "$S"
fi

if step "CPU-rank scaling (scripts/device/comm3.sh)" 120; then
  timeout 200 bash scripts/device/comm3.sh > "$OUT/comm3.out" 2>&1; log "rc $?"
  cat "$OUT/comm3/summary.txt" >> "$S" 2> /dev/null || tail -30 "$OUT/comm3.out" >> "$S"
fi

if step "reference models per precision vs PyTorch (eager, autocast, compile)" 90; then
  timeout 60 "$BUILD/benchmarks/kaon-bench-gpu-models" --steps 20 > "$OUT/models_kaon.csv" 2> "$OUT/models_kaon.err"
  log "kaon rc $?"
  timeout 120 python3 benchmarks/gpu/bench_torch_models.py --steps 20 \
    > "$OUT/models_torch.csv" 2> "$OUT/models_torch.err"
  log "torch rc $?"
  python3 benchmarks/gpu/bench_torch_models.py --join "$OUT/models_kaon.csv" "$OUT/models_torch.csv" 2>&1 | tee -a "$S"
fi

if step "3DGAN fp32 and bf16 steps with the FFT path off" 50; then
  for v in "--precision fp32" "--precision bf16"; do
    KAON_CONV_FFT=0 timeout 45 "$BUILD/benchmarks/kaon-bench-models" --model gan3d --device cuda --batch 128 --steps 5 \
      --warmup 2 $v 2>&1 | grep -E "^gan3d" | sed "s/^/KAON_CONV_FFT=0: /" | tee -a "$S"
  done
fi

CS=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
if [ -x "$CS" ] && step "compute-sanitizer memcheck (own kernels' tests)" 40; then
  timeout 90 "$CS" --tool memcheck --error-exitcode 9 "$BUILD/tests/test_gpu" \
    --gtest_filter='GpuPointwise.*:*GpuPool*:GpuLayout.*:GpuDropout*:GpuConvFilterGemm.*:GpuConvChannelsLast.*:GpuConvFft.*' > "$OUT/memcheck.log" 2>&1
  log "rc $? (9: errors found; 124: timed out): $(grep -E 'ERROR SUMMARY' "$OUT/memcheck.log" | tail -1)"
  grep -E '^\[  (PASSED|FAILED) +\]' "$OUT/memcheck.log" | tee -a "$S"
fi
log "# done $(date -u +%H:%M:%S) after $SECONDS s"
# Only a few files come back from the device machine: the summary and the failures, if any.
find "$OUT" -type f ! -name summary.txt ! -name test_gpu_failures.txt -delete
