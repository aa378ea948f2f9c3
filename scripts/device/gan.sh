#!/usr/bin/env bash
# The GAN helper's GPU checks, for the lead's device run (about 60 s): the GAN and sum-op GPU
# tests, then the 3DGAN training step at batch 128 (fp32) in Kaon and in the PyTorch twin.
#   BUILD=build-cuda OUT=/tmp/out scripts/device/gan.sh      # from the repo root
# BUILD: a -DKAON_WITH_CUDA=ON -DKAON_BUILD_BENCHMARKS=ON build (the two targets are brought up
# to date here). GAN_COMPILE=1 adds the torch.compile variant (about a minute more).
set -u
: "${BUILD:?set BUILD to a CUDA build directory}" "${OUT:?set OUT to a log directory}"
mkdir -p "$OUT"
log() { echo "$*" | tee -a "$OUT/gan_summary.txt"; }
log "# $(date -u '+%Y-%m-%d %H:%M UTC') $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null)"
cmake --build "$BUILD" -j"$(nproc)" --target test_gpu kaon-bench-models > "$OUT/gan_build.log" 2>&1 ||
  { log "build failed (see gan_build.log)"; tail -20 "$OUT/gan_build.log"; exit 1; }
timeout 60 "$BUILD/tests/test_gpu" --gtest_filter='GpuGan*:GpuLayout.Sum*' > "$OUT/gan_test_gpu.log" 2>&1
log "test_gpu GpuGan*/GpuLayout.Sum*: rc $? ($(grep -cE '^\[       OK' "$OUT/gan_test_gpu.log") ok)"
grep -E "FAILED|Failure" "$OUT/gan_test_gpu.log" | head -5 | tee -a "$OUT/gan_summary.txt"
timeout 60 "$BUILD/benchmarks/kaon-bench-models" --model gan3d --device cuda --batch 128 --steps 10 --warmup 3 \
  2>&1 | tee -a "$OUT/gan_summary.txt"
variants="eager fp32,bf16 channels_last"
[[ "${GAN_COMPILE:-0}" == 1 ]] && variants="$variants,compile bf16 channels_last"
timeout 150 python3 benchmarks/gpu/bench_torch_3dgan.py --device cuda --batch 128 --steps 10 --warmup 3 \
  --variants "$variants" 2>&1 | tee -a "$OUT/gan_summary.txt"
