#!/usr/bin/env bash
# Strong and weak scaling sweeps of the jet CNN: kaon-bench-scaling and its PyTorch DDP (gloo)
# twin, one CSV row per run and mode, then a table (speed-up, efficiency, the cost of gradient
# communication, exposed communication and load imbalance) and a PNG (scripts/plot_scaling.py,
# when matplotlib is there). Runs unattended; rows are appended as they finish, so a sweep cut
# short still leaves its CSV.
#
#   scripts/scaling.sh [--ranks "1 2 4 8"] [--threads 2] [--batch 32] [--strong-batch N]
#                      [--steps 10] [--warmup 2] [--pixels 64] [--filters 128] [--bucket-mb 1] [--out DIR]
#                      [--allreduce thread|nonblocking]
#                      [--no-ddp] [--no-strong] [--launcher "mpirun --oversubscribe --bind-to none"]
#   scripts/scaling.sh --report-only [--out DIR]   # table and PNG of an existing DIR/scaling.csv
#
# Weak scaling keeps --batch per rank; strong scaling keeps the global batch (--strong-batch,
# default batch x the largest rank count) and splits it. Each point also runs with gradient
# communication off (Kaon --no-comm, DDP no_sync), so the cost of communication is visible.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
ranks="1 2 4 8" threads=2 batch=32 strong_batch="" steps=10 warmup=2 pixels=64 filters=128
out="$root/runs/scaling" ddp=1 strong=1 sweep=1 bucket_mb=1 allreduce=thread
launcher="mpirun --oversubscribe --bind-to none"
bench="${KAON_BENCH:-$root/build/benchmarks/kaon-bench-scaling}"
python="${PYTHON:-python3}"
while [ $# -gt 0 ]; do
  case "$1" in
    --ranks) ranks="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --strong-batch) strong_batch="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --pixels) pixels="$2"; shift 2 ;;
    --filters) filters="$2"; shift 2 ;;
    --bucket-mb) bucket_mb="$2"; shift 2 ;;
    --allreduce) allreduce="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --launcher) launcher="$2"; shift 2 ;;
    --no-ddp) ddp=0; shift ;;
    --no-strong) strong=0; shift ;;
    --report-only) sweep=0; shift ;;
    *) echo "scaling.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
csv="$out/scaling.csv"
if [ $sweep = 1 ]; then
[ -x "$bench" ] || { echo "scaling.sh: $bench not built (cmake --build build --target kaon-bench-scaling)" >&2; exit 1; }
if [ $ddp = 1 ] && ! "$python" -c "import torch.distributed" 2>/dev/null; then
  echo "scaling.sh: no PyTorch for $python: skipping the DDP twin" >&2
  ddp=0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS="$threads"
mkdir -p "$out"
rm -f "$csv"
largest=$(echo $ranks | tr ' ' '\n' | sort -n | tail -1)
global=${strong_batch:-$(( batch * largest ))}
model=(--steps "$steps" --warmup "$warmup" --threads "$threads" --pixels "$pixels" --filters "$filters" --csv "$csv")

kaon() {  # kaon LABEL RANKS BATCH_PER_RANK
  for comm in on off; do
    $launcher -n "$2" "$bench" --label "$1" --batch-per-rank "$3" --bucket-mb "$bucket_mb" --allreduce "$allreduce" "${model[@]}" \
      $([ $comm = off ] && echo --no-comm) >/dev/null
  done
}
twin() {  # twin LABEL RANKS BATCH_PER_RANK: both modes in one launch, by the same launcher as Kaon
  $launcher -n "$2" "$python" "$root/scripts/bench_ddp_cpu.py" --label "$1" --batch-per-rank "$3" "${model[@]}" \
    >"$out/ddp-$1-$2.log" 2>&1 || echo "scaling.sh: the DDP twin failed at $2 ranks ($out/ddp-$1-$2.log)" >&2
}
# Weak scaling first (the targets are stated for it), then strong.
for n in $ranks; do
  kaon weak "$n" "$batch"
  [ $ddp = 0 ] || twin weak "$n" "$batch"
  echo "scaling.sh: weak, $n ranks done"
done
if [ $strong = 1 ]; then
  for n in $ranks; do
    if [ $(( global % n )) -ne 0 ]; then echo "scaling.sh: strong: $global does not divide by $n, skipped"; continue; fi
    kaon strong "$n" $(( global / n ))
    [ $ddp = 0 ] || twin strong "$n" $(( global / n ))
    echo "scaling.sh: strong (global batch $global), $n ranks done"
  done
fi
fi  # sweep
[ -s "$csv" ] || { echo "scaling.sh: no results in $csv" >&2; exit 1; }
"$python" - "$csv" <<'PY' | tee "$out/scaling.txt"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
key = lambda r: (r["label"], r["ranks"])
off = {key(r): float(r["step_ms"]) for r in rows if r["comm"] == "off"}
base = {r["label"]: float(r["samples_per_s"]) for r in rows if r["comm"] == "on" and r["ranks"] == "1"}
num = lambda v: float(v) if v else float("nan")
print("efficiency: weak = throughput per rank / 1 rank's; strong = speed-up / ranks (same global batch).")
print("comm cost = step with gradient communication / step without - 1; exposed share = exposed comm /")
print("plain allreduce of the gradient bytes; imbalance = wait for the slowest rank's backward.")
print(f"{'mode':<20}{'ranks':>6}{'step ms':>9}{'no-comm':>9}{'comm cost':>10}{'exposed':>9}{'imbal.':>8}"
      f"{'allred.':>9}{'exp.share':>10}{'samples/s':>11}{'effic.':>8}")
for r in (r for r in rows if r["comm"] == "on"):
    sps, n, step = float(r["samples_per_s"]), int(r["ranks"]), float(r["step_ms"])
    b, o = base.get(r["label"]), off.get(key(r))
    eff = sps / (b * n) if b else float("nan")
    cost = step / o - 1 if o else float("nan")
    print(f"{r['label']:<20}{n:>6}{step:>9.1f}{o or float('nan'):>9.1f}{cost:>10.1%}{num(r['exposed_comm_ms']):>9.1f}"
          f"{num(r['imbalance_ms']):>8.1f}{num(r['plain_allreduce_ms']):>9.1f}{num(r['exposed_share']):>10.1%}"
          f"{sps:>11.1f}{eff:>8.1%}")
PY
if "$python" -c "import matplotlib" 2>/dev/null; then
  "$python" "$root/scripts/plot_scaling.py" "$csv" -o "$out/scaling.png"
else
  echo "scaling.sh: matplotlib missing, no PNG (scripts/plot_scaling.py $csv)"
fi
echo "scaling.sh: results in $csv and $out/scaling.txt"
