#!/usr/bin/env bash
# Runs the Kaon and PyTorch CPU training-step benchmarks with the same models, batch sizes,
# steps and thread count, and prints both tables and the throughput ratio Kaon / PyTorch.
#
#   scripts/bench_cpu_models.sh [--threads N] [--steps N] [--warmup N] [--build DIR] [--malloc-keep]
#                               [--no-residual] [--model jet|srcnn|gan3d|all]
# --model gan3d: the 3DGAN step of configs/calo_gan.yaml against benchmarks/gpu/bench_torch_3dgan.py
# (batch 8; slow on a small machine: use --steps 3 --warmup 1).
# --malloc-keep: for both programs, glibc malloc never returns big blocks to the kernel
# (MALLOC_MMAP_MAX_=0, large trim threshold), so per-step activations reuse already-mapped
# memory instead of page-faulting it in again (see docs/perf-notes.md, "allocator"). Kaon's own
# caching host allocator does the same for Kaon by default (KAON_HOST_CACHE=0 turns it off).
# --no-residual: SRCNN without the residual add of input channel 0, in both programs.
# The last table also gives the ratio of CPU time per step (torch / kaon), the figure to trust
# when the machine is busy.
# Needs: a built kaon-bench-models (cmake --build build --target kaon-bench-models) and
# Debian's PyTorch (apt-get install -y python3-torch libopenblas0-pthread).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
threads="$(nproc)" steps=20 warmup=3 build="$root/build" extra=() model=all
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --no-residual) extra+=(--no-residual); shift ;;
    --model) model="$2"; shift 2 ;;
    --malloc-keep) export MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=4000000000 MALLOC_TOP_PAD_=268435456; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
bench="$build/benchmarks/kaon-bench-models"
[[ -x "$bench" ]] || { echo "missing $bench: build the kaon-bench-models target first" >&2; exit 1; }

echo "# $(date -u '+%Y-%m-%d %H:%M UTC')  $(lscpu | sed -n 's/^Model name: *//p')  threads $threads  load: $(cut -d' ' -f1-3 /proc/loadavg)${MALLOC_MMAP_MAX_:+  malloc-keep}"
kaon_out="$("$bench" --threads "$threads" --steps "$steps" --warmup "$warmup" --model "$model" ${extra[@]+"${extra[@]}"})"
echo "$kaon_out"
# A fair BLAS for PyTorch: no core-type or cache-size overrides from the environment.
if [[ "$model" == gan3d ]]; then
  torch_out="$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 "$root/benchmarks/gpu/bench_torch_3dgan.py" \
    --device cpu --threads "$threads" --steps "$steps" --warmup "$warmup")"
else
  torch_out="$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 "$here/bench_pytorch_cpu.py" \
    --threads "$threads" --steps "$steps" --warmup "$warmup" --model "$model" ${extra[@]+"${extra[@]}"})"
fi
echo "$torch_out"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %14s %14s %12s %16s\n' model "kaon samples/s" "torch samples/s" "kaon/torch" "cpu torch/kaon"
for m in jet srcnn gan3d; do
  k="$(awk -v m="$m" '$1 == m {print $4}' <<<"$kaon_out")"
  t="$(awk -v m="$m" '$1 == m {print $4}' <<<"$torch_out")"
  kc="$(awk -v m="$m" '$1 == m {print $6}' <<<"$kaon_out")"
  tc="$(awk -v m="$m" '$1 == m {print $6}' <<<"$torch_out")"
  [[ -n "$k" && -n "$t" ]] || continue
  printf '%-8s %14s %14s %12s %16s\n' "$m" "$k" "$t" "$(awk -v a="$k" -v b="$t" 'BEGIN {printf "%.2fx", a / b}')" \
    "$(awk -v a="$tc" -v b="$kc" 'BEGIN {printf "%.2fx", a / b}')"
done
