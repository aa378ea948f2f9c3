#!/usr/bin/env bash
# The FFT convolution path on one GPU (about 6 minutes): a CUDA build, its GPU tests with the
# other convolution paths' and the 3DGAN's as regression, compute-sanitizer memcheck of its
# tests, the 3DGAN step (batch 128) per precision with the FFT path on (default) and off and the
# engine choices printed, PyTorch's twin in the same run, and the jet CNN / SRCNN per precision.
#   OUT=/tmp/out [BUILD=/tmp/b] [BUDGET=540] scripts/device/fft.sh       # from the repo root
set -u
: "${OUT:?set OUT to a log directory}"
BUILD="${BUILD:-/tmp/b}"
BUDGET="${BUDGET:-540}"
mkdir -p "$OUT"
S="$OUT/summary.txt"
log() { echo "$*" | tee -a "$S"; }
left() { echo $((BUDGET - SECONDS)); }
step() { if (($(left) < $2)); then log "== $1: skipped ($(left) s left)"; return 1; fi; log "== $1 ($(left) s left)"; }
log "# fft.sh $(date -u '+%Y-%m-%d %H:%M UTC') $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DKAON_WITH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DKAON_BUILD_BENCHMARKS=ON > "$OUT/cmake.log" 2>&1 || { log "configure failed"; tail -30 "$OUT/cmake.log"; exit 1; }
timeout 240 cmake --build "$BUILD" -j16 --target test_gpu kaon-bench-models kaon-bench-gpu-models > "$OUT/build.log" 2>&1 ||
  { log "build failed"; grep -E "error" -A3 "$OUT/build.log" | head -40 | tee -a "$S"; exit 1; }
log "build: $SECONDS s"

FILTER="${GPU_FILTER:-*}"
if step "test_gpu ($FILTER)" 60; then
  timeout 150 "$BUILD/tests/test_gpu" --gtest_filter="$FILTER" > "$OUT/test_gpu.log" 2>&1
  log "rc $?: $(grep -E '^\[  (PASSED|SKIPPED|FAILED) +\] [0-9]+ test' "$OUT/test_gpu.log" | tr -s ' ' | tr '\n' ' ')"
  grep -E '^\[  FAILED  \] [A-Z]' "$OUT/test_gpu.log" | sort -u | tee -a "$S"
  grep -B2 -A12 "Failure\|what()" "$OUT/test_gpu.log" | head -60 | tee -a "$S"
fi
if step "memcheck GpuConvFft.*" 60; then
  CS=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  timeout 120 "$CS" --tool memcheck --error-exitcode 9 "$BUILD/tests/test_gpu" --gtest_filter='GpuConvFft.*' > "$OUT/memcheck.log" 2>&1
  log "memcheck rc $? (9: errors; 124: timed out): $(grep -E 'ERROR SUMMARY' "$OUT/memcheck.log" | tail -1)"
  grep -E '^\[  (PASSED|FAILED) +\]' "$OUT/memcheck.log" | tee -a "$S"
  grep -m3 -A8 "Invalid\|ERROR:" "$OUT/memcheck.log" | head -30 | tee -a "$S"
fi

gan() {  # gan LABEL PRECISION [ENV=VALUE...]
  local label=$1 p=$2; shift 2
  env "$@" KAON_CUDNN_VERBOSE=1 timeout 100 "$BUILD/benchmarks/kaon-bench-models" --model gan3d --device cuda --precision "$p" \
    --batch 128 --steps 5 --warmup 2 > "$OUT/gan_$label.log" 2> "$OUT/gan_${label}_choices.txt"
  log "kaon $label (rc $?): $(grep -E '^gan3d' "$OUT/gan_$label.log")"
  grep -iE "error|differs" "$OUT/gan_${label}_choices.txt" | head -5 | tee -a "$S"
}
if step "3DGAN step, Kaon" 150; then
  gan fp32 fp32
  gan bf16 bf16
  gan tf32 tf32
  gan fp16 fp16
  gan fp32-nofft fp32 KAON_CONV_FFT=0
  gan bf16-nofft bf16 KAON_CONV_FFT=0
  for l in fp32 bf16; do
    log "-- $l: FFT candidates ($(grep -c ': fft ' "$OUT/gan_${l}_choices.txt") timed, $(grep -c ': fft .*used' "$OUT/gan_${l}_choices.txt") used)"
    grep -E ": fft " "$OUT/gan_${l}_choices.txt" | sed 's/stride 1,1,1 //; s/dilation 1,1,1//' | tee -a "$S"
  done
fi
if step "3DGAN step, PyTorch" 70; then
  timeout 120 python3 benchmarks/gpu/bench_torch_3dgan.py --device cuda --batch 128 --steps 5 --warmup 2 \
    --variants "eager fp32,bf16 channels_last" > "$OUT/torch_gan.log" 2>&1
  log "torch rc $?:"; grep -E '^gan3d' "$OUT/torch_gan.log" | tee -a "$S"
fi
if step "jet CNN and SRCNN per precision (FFT auto / off)" 60; then
  timeout 60 "$BUILD/benchmarks/kaon-bench-gpu-models" --steps 20 > "$OUT/models_auto.csv" 2> "$OUT/models_auto.err"
  KAON_CONV_FFT=0 timeout 60 "$BUILD/benchmarks/kaon-bench-gpu-models" --steps 20 > "$OUT/models_off.csv" 2> "$OUT/models_off.err"
  log "auto:"; tee -a "$S" < "$OUT/models_auto.csv"; log "off:"; tee -a "$S" < "$OUT/models_off.csv"
fi
log "# done $(date -u +%H:%M:%S) after $SECONDS s"
find "$OUT" -type f ! -name summary.txt ! -name 'gan_bf16_choices.txt' ! -name 'gan_fp32_choices.txt' ! -name test_gpu.log -delete
