#!/usr/bin/env bash
# 3DGAN mixed precision on one GPU, for the lead's device run (about 90 s after the build):
#   1. builds test_gpu and kaon-bench-models in $BUILD (model.cpp/layer.hpp changed: most of
#      the library recompiles, about 1-2 minutes at -j16 on a warm build directory),
#   2. the GAN GPU tests (GpuGanPrecision.* new, GpuGan.* and GpuMixedPrecision.* as regression),
#   3. the 3DGAN training step (configs/calo_gan.yaml, batch 128) in Kaon fp32/bf16/fp16
#      against the PyTorch twin (eager fp32, bf16 autocast + channels_last),
#   4. a summary table with the issue's targets: Kaon bf16 <= 0.5x PyTorch's fastest variant
#      measured, Kaon fp32 >= 3x faster than PyTorch eager fp32.
#   BUILD=build-cuda OUT=/tmp/out scripts/device/ganmp.sh      # from the repo root
# BUILD: configured with -DKAON_WITH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DKAON_BUILD_BENCHMARKS=ON.
# GANMP_COMPILE=1 adds PyTorch's "compile bf16 channels_last" variant (about a minute more),
# GANMP_TF32=1 Kaon's tf32 (about 15 s more).
set -u
: "${BUILD:?set BUILD to a CUDA build directory}" "${OUT:?set OUT to a log directory}"
mkdir -p "$OUT"
S="$OUT/ganmp_summary.txt"
log() { echo "$*" | tee -a "$S"; }
log "# ganmp $(date -u '+%Y-%m-%d %H:%M UTC') $(git rev-parse --short HEAD 2>/dev/null) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null)"
t0=$SECONDS
timeout 400 cmake --build "$BUILD" -j16 --target test_gpu kaon-bench-models > "$OUT/ganmp_build.log" 2>&1 ||
  { log "build failed (ganmp_build.log):"; grep -E "error" -A3 "$OUT/ganmp_build.log" | head -30 | tee -a "$S"; exit 1; }
log "build: $((SECONDS - t0)) s"

t0=$SECONDS
timeout 90 "$BUILD/tests/test_gpu" --gtest_filter='GpuGanPrecision.*:GpuMixedPrecisionBatchNorm.*:GpuGan.*:GpuMixedPrecision.*' \
  > "$OUT/ganmp_test_gpu.log" 2>&1
rc=$?
log "test_gpu GpuGanPrecision.*:GpuMixedPrecisionBatchNorm.*:GpuGan.*:GpuMixedPrecision.*: rc $rc in $((SECONDS - t0)) s;" \
  "$(grep -cE '^\[       OK' "$OUT/ganmp_test_gpu.log") ok; $(grep -E '^\[  (PASSED|SKIPPED|FAILED) +\] [0-9]+ test' "$OUT/ganmp_test_gpu.log" | tr -s ' ' | tr '\n' ' ')"
grep -E '^\[  FAILED  \] [A-Z]' "$OUT/ganmp_test_gpu.log" | sort -u | tee -a "$S"
# The measured errors (bf16 vs fp32, loss trends) the tests print, and the first failures.
grep -E "relative L2|MAPE|skipped updates" "$OUT/ganmp_test_gpu.log" | tee -a "$S"
grep -B2 -A8 "Failure" "$OUT/ganmp_test_gpu.log" | head -60 | tee -a "$S"

declare -A kaon_ms torch_ms
precisions="fp32 bf16 fp16"
[[ "${GANMP_TF32:-0}" == 1 ]] && precisions="fp32 tf32 bf16 fp16"
for p in $precisions; do
  line=$(timeout 60 "$BUILD/benchmarks/kaon-bench-models" --model gan3d --device cuda --precision "$p" --batch 128 \
    --steps 10 --warmup 3 2>&1 | tee "$OUT/ganmp_kaon_$p.log" | grep -E '^gan3d ' | tail -1)
  kaon_ms[$p]=$(awk '{print $3}' <<< "$line")
  log "kaon $p: ${line:-failed (ganmp_kaon_$p.log: $(grep -vE '^(# |model )' "$OUT/ganmp_kaon_$p.log" | tail -1))}"
done

variants="eager fp32,bf16 channels_last"
[[ "${GANMP_COMPILE:-0}" == 1 ]] && variants="$variants,compile bf16 channels_last"
timeout 150 python3 benchmarks/gpu/bench_torch_3dgan.py --device cuda --batch 128 --steps 10 --warmup 3 \
  --variants "$variants" > "$OUT/ganmp_torch.log" 2>&1
log "torch rc $?:"
grep -E '^(#|gan3d )' "$OUT/ganmp_torch.log" | tee -a "$S"
torch_ms[eager]=$(grep -E '^gan3d .* eager fp32$' "$OUT/ganmp_torch.log" | awk '{print $3}')
# PyTorch's fastest mixed-precision variant measured (bf16 channels_last, or its torch.compile).
torch_ms[best]=$(grep -E '^gan3d .* bf16 channels_last$' "$OUT/ganmp_torch.log" | awk '{print $3}' | sort -g | head -1)

ratio() { [[ -n "$1" && -n "$2" ]] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }' || echo "n/a"; }
verdict() { [[ "$1" == n/a ]] && echo "n/a" || awk -v r="$1" -v t="$2" 'BEGIN { print (r <= t ? "MET" : "missed") }'; }
log ""
log "== 3DGAN training step, batch 128, one GPU (ms/step = median of 10 steps; a step = D on real + D on fake + 2 G updates)"
log "$(printf '%-12s %10s %14s %14s' kaon ms/step 'vs torch eager' 'vs torch best')"
for p in $precisions; do
  log "$(printf '%-12s %10s %14s %14s' "$p" "${kaon_ms[$p]:-n/a}" "$(ratio "${kaon_ms[$p]:-}" "${torch_ms[eager]:-}")" \
    "$(ratio "${kaon_ms[$p]:-}" "${torch_ms[best]:-}")")"
done
log "torch eager fp32 ${torch_ms[eager]:-n/a} ms, torch best bf16 channels_last ${torch_ms[best]:-n/a} ms"
r_bf16=$(ratio "${kaon_ms[bf16]:-}" "${torch_ms[best]:-}")
r_fp32=$(ratio "${kaon_ms[fp32]:-}" "${torch_ms[eager]:-}")
log "target bf16 <= 0.5x torch best: kaon/torch = $r_bf16 -> $(verdict "$r_bf16" 0.5)"
log "target fp32 >= 3x faster than torch eager: kaon/torch = $r_fp32 (needs <= 0.333) -> $(verdict "$r_fp32" 0.3334)"
log "# done $(date -u '+%H:%M:%S')"
