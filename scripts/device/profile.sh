#!/usr/bin/env bash
# Where the 3DGAN's GPU step spends its time, Kaon against PyTorch (one H200, under 10 minutes):
#   1. a CUDA build and the GPU suite (GPU_FILTER: a gtest filter, default all),
#   2. the 3DGAN step at batch 128 in bf16, fp32, tf32 and fp16, with the engine choices printed
#      (KAON_CUDNN_VERBOSE=1), and bf16 again with the channels-last engines off,
#   3. PyTorch's twin (eager fp32, bf16 autocast + channels_last) with a profiler table,
#   4. Nsight Compute timing every kernel of Kaon's last bf16 and fp32 step
#      (KAON_PROFILE_LAST_STEP=1, --profile-from-start off), summed per kernel name,
#   5. the jet CNN and SRCNN per precision, channels-last engines on (auto) and off, and against
#      PyTorch (eager fp32/tf32, bf16 autocast + channels_last, torch.compile).
#   OUT=/tmp/out [BUILD=/tmp/b] [SKIP='PyTorch|jet'] scripts/device/profile.sh        # from the repo root
set -u
: "${OUT:?set OUT to a log directory}"
BUILD="${BUILD:-/tmp/b}"
BUDGET="${BUDGET:-560}"
mkdir -p "$OUT"
S="$OUT/summary.txt"
log() { echo "$*" | tee -a "$S"; }
left() { echo $((BUDGET - SECONDS)); }
step() {  # SKIP: a regex of step names not to run
  if [ -n "${SKIP:-}" ] && [[ "$1" =~ $SKIP ]]; then log "== $1: skipped (SKIP)"; return 1; fi
  if (($(left) < $2)); then log "== $1: skipped ($(left) s left)"; return 1; fi; log "== $1 ($(left) s left)"
}
# (no commit: the device's copy of the tree does not carry the current git HEAD)
log "# profile.sh $(date -u '+%Y-%m-%d %H:%M UTC') $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DKAON_WITH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DKAON_BUILD_BENCHMARKS=ON > "$OUT/cmake.log" 2>&1 || { log "configure failed"; tail -30 "$OUT/cmake.log"; exit 1; }
timeout 240 cmake --build "$BUILD" -j16 --target test_gpu kaon-bench-models kaon-bench-gpu-models > "$OUT/build.log" 2>&1 ||
  { log "build failed"; grep -E "error" -A3 "$OUT/build.log" | head -40 | tee -a "$S"; exit 1; }
log "build: $SECONDS s"

if step "test_gpu (${GPU_FILTER:-all})" 60; then
  timeout 150 "$BUILD/tests/test_gpu" --gtest_filter="${GPU_FILTER:-*}" > "$OUT/test_gpu.log" 2>&1
  log "rc $?: $(grep -E '^\[  (PASSED|SKIPPED|FAILED) +\] [0-9]+ test' "$OUT/test_gpu.log" | tr -s ' ' | tr '\n' ' ')"
  grep -E '^\[  FAILED  \] [A-Z]' "$OUT/test_gpu.log" | sort -u | tee -a "$S"
  grep -B2 -A10 "Failure" "$OUT/test_gpu.log" | head -40 | tee -a "$S"
fi

gan() {  # gan LABEL PRECISION [ENV=VALUE...]
  local label=$1 p=$2; shift 2
  env "$@" KAON_CUDNN_VERBOSE=1 timeout 90 "$BUILD/benchmarks/kaon-bench-models" --model gan3d --device cuda --precision "$p" \
    --batch 128 --steps 5 --warmup 2 > "$OUT/gan_$label.log" 2> "$OUT/gan_${label}_choices.txt"
  log "kaon $label (rc $?): $(grep -E '^gan3d' "$OUT/gan_$label.log")"
}
if step "3DGAN step, Kaon" 120; then
  gan bf16 bf16
  gan fp32 fp32
  gan tf32 tf32
  gan fp16 fp16
  gan bf16-nocl bf16 KAON_CONV_CHANNELS_LAST=0
  for l in bf16 fp32; do
    log "-- $l: convolutions that chose channels-last / im2col (of $(grep -c 'legacy algo' "$OUT/gan_${l}_choices.txt") timed)"
    grep -E "channels-last" "$OUT/gan_${l}_choices.txt" | awk '{ if ($(NF-6)+0 > 0 && $(NF-6)+0 < 0.9*$(NF-1)) print }' | tee -a "$S"
    grep -E "im2col.*used" "$OUT/gan_${l}_choices.txt" | tee -a "$S"
  done
fi

if step "3DGAN step, PyTorch (profiled)" 70; then
  timeout 120 python3 benchmarks/gpu/bench_torch_3dgan.py --device cuda --batch 128 --steps 5 --warmup 2 \
    --variants "eager fp32,bf16 channels_last" --profile > "$OUT/torch_gan.log" 2> "$OUT/torch_gan_profile.txt"
  log "torch rc $?:"; grep -E '^gan3d' "$OUT/torch_gan.log" | tee -a "$S"
fi

NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
for what in "gan bf16" "gan fp32" "jet bf16"; do
  read -r m p <<< "$what"
  if [ -n "$NCU" ] && step "ncu: every kernel of Kaon's last $m $p step" 60; then
    if [ "$m" = gan ]; then
      cmd=("$BUILD/benchmarks/kaon-bench-models" --model gan3d --device cuda --precision "$p" --batch 128 --steps 1 --warmup 2)
    else
      cmd=("$BUILD/benchmarks/kaon-bench-gpu-models" --model jet --precision "$p" --steps 3 --warmup 3)
    fi
    KAON_PROFILE_LAST_STEP=1 timeout 150 "$NCU" --profile-from-start off --clock-control none \
      --metrics gpu__time_duration.sum --csv --log-file "$OUT/ncu_$m$p.csv" "${cmd[@]}" > "$OUT/ncu_$m$p.out" 2>&1
    log "rc $?: $(grep -E '^(gan3d|jet)' "$OUT/ncu_$m$p.out" | head -1)"
    python3 - "$OUT/ncu_$m$p.csv" <<'PY' | tee -a "$S"
import csv, sys, collections
scale = {"nsecond": 1e-6, "usecond": 1e-3, "msecond": 1.0, "second": 1e3}
tot, cnt = collections.Counter(), collections.Counter()
try:
    lines = [l for l in open(sys.argv[1]) if l.startswith('"')]
except OSError as e:
    print("no ncu output:", e); sys.exit(0)
for r in csv.DictReader(lines):
    if r.get("Metric Name") != "gpu__time_duration.sum": continue
    name = r["Kernel Name"][:100]
    tot[name] += float(r["Metric Value"].replace(",", "")) * scale.get(r["Metric Unit"], 1e-6)
    cnt[name] += 1
all_ms = sum(tot.values())
print(f"{sum(cnt.values())} kernels, {all_ms:.1f} ms of kernel time in the step")
for name, ms in tot.most_common(25):
    print(f"{ms:9.2f} ms {100 * ms / all_ms:5.1f}% x{cnt[name]:<4} {name}")
# The kernels over 1 ms in launch order, with their grids: which layer each belongs to.
big = [r for r in csv.DictReader(lines) if r.get("Metric Name") == "gpu__time_duration.sum"]
print("kernels over 1 ms, in launch order:")
for r in big:
    ms = float(r["Metric Value"].replace(",", "")) * scale.get(r["Metric Unit"], 1e-6)
    if ms > 1.0:
        print(f"  #{r['ID']:>4} {ms:7.2f} ms grid {r.get('Grid Size', '?'):>16} {r['Kernel Name'][:70]}")
PY
  fi
done

if step "jet CNN and SRCNN per precision, channels-last auto / off" 60; then
  KAON_CUDNN_VERBOSE=1 timeout 60 "$BUILD/benchmarks/kaon-bench-gpu-models" --steps 20 > "$OUT/models_auto.csv" 2> "$OUT/models_choices.txt"
  KAON_CONV_CHANNELS_LAST=0 timeout 60 "$BUILD/benchmarks/kaon-bench-gpu-models" --steps 20 > "$OUT/models_off.csv" 2> "$OUT/models_off.err"
  log "auto:"; cat "$OUT/models_auto.csv" | tee -a "$S"; log "off:"; cat "$OUT/models_off.csv" | tee -a "$S"
fi
if step "jet CNN and SRCNN, PyTorch (eager, autocast, compile)" 120; then
  timeout 150 python3 benchmarks/gpu/bench_torch_models.py --steps 20 > "$OUT/models_torch.csv" 2> "$OUT/models_torch.err"
  log "torch rc $?:"; python3 benchmarks/gpu/bench_torch_models.py --join "$OUT/models_auto.csv" "$OUT/models_torch.csv" | tee -a "$S"
fi
log "# done $(date -u +%H:%M:%S) after $SECONDS s"
# Only a few files come back from the device machine: keep the summary and the engine choices.
find "$OUT" -type f ! -name summary.txt ! -name 'gan_bf16_choices.txt' ! -name 'gan_fp32_choices.txt' \
  ! -name torch_gan_profile.txt ! -name test_gpu.log ! -name models_choices.txt -delete
