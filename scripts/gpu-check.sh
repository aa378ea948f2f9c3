#!/usr/bin/env bash
# GPU check: configure a Release build with the CUDA backend (sm_90 unless CUDA_ARCH says
# otherwise), build the GPU tests, run them and print a table of tests and results; then (unless
# BENCH=0) time the CUDA kernels (OPS_BENCH=0 skips them) and the training steps of the
# reference models per precision (MODELS_BENCH=0 skips them) against PyTorch (when python3 has
# torch), printing a comparison table each.
#   scripts/gpu-check.sh [build-dir]        (default: build-gpu beside the sources)
#   GTEST_FILTER=... selects GPU tests; JOBS=N build parallelism; LOGS=dir for logs and CSVs
#   (default: the build dir).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$ROOT/build-gpu}"
ARCH="${CUDA_ARCH:-90}"
JOBS="${JOBS:-$(nproc)}"
mkdir -p "$BUILD"
LOGS="${LOGS:-$BUILD}"
mkdir -p "$LOGS"
TARGETS="test_gpu kaon-bench-gpu-models"
[ "${OPS_BENCH:-1}" != 0 ] && TARGETS="$TARGETS kaon-bench-gpu"
echo "== configure ($BUILD, sm_$ARCH)"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DKAON_WITH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" \
  -DKAON_BUILD_BENCHMARKS=ON -DKAON_BUILD_APPS=OFF > "$LOGS/gpu-check-cmake.log" 2>&1 \
  || { tail -30 "$LOGS/gpu-check-cmake.log"; exit 1; }
echo "== build test_gpu"
cmake --build "$BUILD" -j "$JOBS" --target $TARGETS > "$LOGS/gpu-check-build.log" 2>&1 \
  || { grep -E "error|Error" -A3 "$LOGS/gpu-check-build.log" | head -60; exit 1; }
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
echo "== run"
set +e
"$BUILD/tests/test_gpu" --gtest_brief=0 --gtest_filter="${GTEST_FILTER:-*}" > "$LOGS/gpu-check-tests.log" 2>&1
status=$?
set -e
# Table: one row per test with its result and time.
awk '
  /^\[       OK \] /  { r = "ok" }
  /^\[  FAILED  \] /  { r = "FAILED" }
  /^\[  SKIPPED \] /  { r = "skipped" }
  /^\[(       OK |  FAILED  |  SKIPPED )\] [A-Za-z].* \([0-9]+ ms\)$/ {
    name = $0; sub(/^\[[^]]*\] /, "", name); t = name; sub(/ \(.*/, "", name); sub(/.*\(/, "", t); sub(/\).*/, "", t)
    printf "%-72s %-8s %s\n", name, r, t; n[r]++ }
  END { printf "\nok %d, failed %d, skipped %d\n", n["ok"], n["FAILED"], n["skipped"] }
' "$LOGS/gpu-check-tests.log"
if [ $status -ne 0 ]; then
  echo "== failures"; grep -B2 -A12 "Failure\|error:" "$LOGS/gpu-check-tests.log" | head -150
fi
HAVE_TORCH=0
python3 -c "import torch; assert torch.cuda.is_available()" 2> /dev/null && HAVE_TORCH=1
if [ "${BENCH:-1}" != 0 ] && [ "${MODELS_BENCH:-1}" != 0 ]; then
  echo "== training step of the reference models (kaon-bench-gpu-models vs bench_torch_models.py)"
  "$BUILD/benchmarks/kaon-bench-gpu-models" > "$LOGS/gpu-models-kaon.csv" || echo "kaon-bench-gpu-models failed"
  if [ $HAVE_TORCH = 1 ]; then
    python3 "$ROOT/benchmarks/gpu/bench_torch_models.py" > "$LOGS/gpu-models-torch.csv"
    python3 "$ROOT/benchmarks/gpu/bench_torch_models.py" --join "$LOGS/gpu-models-kaon.csv" "$LOGS/gpu-models-torch.csv"
  else
    column -t -s, "$LOGS/gpu-models-kaon.csv"
  fi
fi
if [ "${BENCH:-1}" != 0 ] && [ "${OPS_BENCH:-1}" != 0 ]; then
  echo "== benchmarks (FP32, TF32 off on both sides)"
  "$BUILD/benchmarks/kaon-bench-gpu" > "$LOGS/gpu-bench-kaon.csv"
  if [ $HAVE_TORCH = 1 ]; then
    python3 "$ROOT/benchmarks/gpu/bench_torch_ops.py" > "$LOGS/gpu-bench-torch.csv"
    python3 "$ROOT/benchmarks/gpu/bench_torch_ops.py" --join "$LOGS/gpu-bench-kaon.csv" "$LOGS/gpu-bench-torch.csv"
  else
    column -t -s, "$LOGS/gpu-bench-kaon.csv"
  fi
fi
exit $status
