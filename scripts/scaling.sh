#!/usr/bin/env bash
# Strong and weak scaling sweeps of the jet CNN with kaon-bench-scaling, one CSV row per run,
# then a table of speed-up and efficiency. Plot with scripts/plot_scaling.py.
#
#   scripts/scaling.sh [--ranks "1 2 4 8"] [--threads 2] [--batch 32] [--steps 10] [--out DIR]
#                      [--launcher "mpirun --bind-to core --map-by slot:PE=2"]
#
# Weak scaling keeps --batch per rank; strong scaling keeps the global batch at
# batch x (largest rank count) and splits it. Each point also runs with gradient
# communication off, so the cost of communication itself is visible.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
ranks="1 2 4 8" threads=2 batch=32 steps=10 out="$root/runs/scaling"
launcher="mpirun --oversubscribe --bind-to none"
bench="${KAON_BENCH:-$root/build/benchmarks/kaon-bench-scaling}"
while [ $# -gt 0 ]; do
  case "$1" in
    --ranks) ranks="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --launcher) launcher="$2"; shift 2 ;;
    *) echo "scaling.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$bench" ] || { echo "scaling.sh: $bench not built (cmake --build build)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$out"
csv="$out/scaling.csv"
rm -f "$csv"
largest=$(echo $ranks | tr ' ' '\n' | sort -n | tail -1)
global=$(( batch * largest ))
for n in $ranks; do
  for comm in on off; do
    flag=$([ $comm = off ] && echo --no-comm || true)
    $launcher -n "$n" "$bench" --label weak --batch-per-rank "$batch" --steps "$steps" --threads "$threads" \
      $flag --csv "$csv" >/dev/null
    if [ $(( global % n )) -eq 0 ]; then
      $launcher -n "$n" "$bench" --label strong --batch-per-rank $(( global / n )) --steps "$steps" \
        --threads "$threads" $flag --csv "$csv" >/dev/null
    fi
  done
  echo "scaling.sh: $n ranks done"
done
/usr/bin/env python3 - "$csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
base = {}
for r in rows:
    if r["comm"] == "on" and r["ranks"] == "1":
        base[r["label"]] = float(r["samples_per_s"])
print(f"{'mode':<7}{'ranks':>6}{'comm':>6}{'step ms':>10}{'exposed':>9}{'samples/s':>11}{'efficiency':>12}")
for r in rows:
    sps, n = float(r["samples_per_s"]), int(r["ranks"])
    b = base.get(r["label"])
    # weak: throughput per rank vs 1 rank; strong: speed-up / ranks (same global batch)
    eff = sps / (b * n) if b else float("nan")
    print(f"{r['label']:<7}{n:>6}{r['comm']:>6}{float(r['step_ms']):>10.1f}{float(r['exposed_comm_ms']):>9.1f}"
          f"{sps:>11.1f}{eff:>12.2%}")
PY
echo "scaling.sh: results in $csv (plot: scripts/plot_scaling.py $csv)"
