#!/usr/bin/env bash
# Issue 4 (synchronous allreduce performance) on the 16-core host, CPU ranks only (no GPU use):
# weak scaling of the jet CNN, batch 32 per rank, 8 ranks x 2 threads bound to 2 cores each.
# Kaon's default (communication thread, 1 MB buckets for CPU models, buckets >= 256 KB through
# the sleeping point-to-point ring, the small last bucket through arrival wait + MPI_Allreduce)
# against its variants: every bucket through MPI_Allreduce (KAON_ALLREDUCE_RING=0, the
# previous default), the same with Open MPI's mpi_yield_when_idle, the communication thread at
# nice -5 and +5, 4 MB buckets, OpenMP's spinning wait (KAON_OMP_WAIT=keep: the runtime's default;
# Kaon's own default with ranks sharing a node is passive waiting), the old non-blocking path (25 MB
# MPI_Iallreduce), and the PyTorch DDP (gloo) twin; each framework with gradient communication
# off too. About 100-120 s of runs after the build.
#   OUT=/tmp/out BUILD=/tmp/b scripts/device/comm.sh        # from the repo root; $BUILD: a CUDA build
# RANKS (8), THREADS (2) and LAUNCH (the mpirun line) override the defaults, for a dry run on a
# small machine (PYTHON: an interpreter with torch, default python3):
#   RANKS=2 THREADS=1 LAUNCH="mpirun --bind-to core" PYTHON=/usr/bin/python3 OUT=... BUILD=build-cc scripts/device/comm.sh
# Writes $OUT/kaon.csv, $OUT/ddp.csv, one log per run and $OUT/summary.txt (self-explanatory).
set -u
NAME=comm.sh
source scripts/device/comm_common.sh
build_targets kaon-bench-scaling
dcsv="$OUT/ddp.csv"
rm -f "$kcsv" "$dcsv"
kaon single 1
kaon no-comm "$RANKS" --no-comm
kaon thread-1MB "$RANKS" --allreduce thread --bucket-mb 1
ENV="KAON_ALLREDUCE_RING=0" kaon thread-1MB-mpi "$RANKS" --allreduce thread --bucket-mb 1
ENV="KAON_ALLREDUCE_RING=0 OMPI_MCA_mpi_yield_when_idle=1" kaon thread-1MB-mpi-yield "$RANKS" --allreduce thread --bucket-mb 1
ENV="KAON_COMM_THREAD_NICE=-5" kaon thread-1MB-nice-5 "$RANKS" --allreduce thread --bucket-mb 1
ENV="KAON_COMM_THREAD_NICE=5" kaon thread-1MB-nice+5 "$RANKS" --allreduce thread --bucket-mb 1
kaon thread-4MB "$RANKS" --allreduce thread --bucket-mb 4
ENV="KAON_OMP_WAIT=keep" kaon no-comm-spin "$RANKS" --no-comm
ENV="KAON_OMP_WAIT=keep" kaon thread-1MB-spin "$RANKS" --allreduce thread --bucket-mb 1
kaon nonblocking-25MB "$RANKS" --allreduce nonblocking --bucket-mb 25
for n in 1 "$RANKS"; do  # DDP: comm on and off (no_sync) in one launch
  t=$SECONDS
  timeout 60 "${launch[@]}" -n "$n" "${PYTHON:-python3}" scripts/bench_ddp_cpu.py "${common[@]}" --label weak --csv "$dcsv" \
    > "$OUT/ddp-$n.log" 2>&1
  log "run ddp, $n ranks: rc $? in $((SECONDS - t)) s"
done
python3 - "$kcsv" "$dcsv" "$RANKS" "$THREADS" <<'PY' | tee -a "$S"
import csv, os, sys
def rows(path):
    return list(csv.DictReader(open(path))) if os.path.exists(path) else []
kaon, ddp = rows(sys.argv[1]), rows(sys.argv[2])
N, T = sys.argv[3], sys.argv[4]
f = lambda r, k: float(r[k]) if r.get(k) not in (None, "") else float("nan")
print(f"\nJet CNN, weak scaling, batch 32 per rank, {T} threads per rank bound to {T} cores; 5 measured steps.")
print("step = wall time per step (slowest rank); no-comm = the same run without gradient communication;")
print("comm overhead = step / no-comm - 1 (target <= 3% at 8 ranks); efficiency = samples/s / (ranks x")
print("1-rank samples/s) of the same framework (target: Kaon >= DDP); exposed = wait after backward not")
print("explained by the slowest rank's backward; imbalance = wait for the slowest rank; allreduce = one")
print("blocking MPI_Allreduce of all 17.2 MB of gradients; exposed fraction = exposed / allreduce (target")
print("<= 20%); cpu = CPU time of one rank's process per step, all its threads (Kaon: the slowest rank;")
print("DDP: rank 0), what communication costs the cores.")
print("DDP reports no split (blank). comm cpu = CPU time per step of Kaon's communication thread alone")
print("(the slowest rank's), part of cpu. Variants: 'MPI_Allreduce' = KAON_ALLREDUCE_RING=0, every bucket")
print("through arrival wait + MPI_Allreduce (the previous default); 'yield' = that with Open MPI's")
print("mpi_yield_when_idle=1; 'nice N' = KAON_COMM_THREAD_NICE=N; 'OMP spin' = KAON_OMP_WAIT=keep, libgomp's")
print("spinning default (Kaon's default with ranks sharing a node: OMP_WAIT_POLICY=passive, apps/omp_wait.hpp)")
print("(its overhead is against the no-comm run with the same policy).")
k1 = next((r for r in kaon if r["label"] == "single"), None)
k0 = next((r for r in kaon if r["label"] == "no-comm"), None)
d1 = next((r for r in ddp if r["ranks"] == "1" and r["comm"] == "on"), None)
d0 = next((r for r in ddp if r["ranks"] == N and r["comm"] == "off"), None)
hdr = f"{'run':<28}{'ranks':>6}{'step ms':>9}{'no-comm':>9}{'overhead':>10}{'effic.':>8}{'exposed':>9}{'imbal.':>8}{'allred.':>9}{'exp.frac':>10}{'cpu ms':>8}{'comm cpu':>9}"
print(hdr)
def line(name, r, base, single):
    step = f(r, "step_ms"); nc = f(base, "step_ms") if base else float("nan")
    eff = f(r, "samples_per_s") / (int(r["ranks"]) * f(single, "samples_per_s")) if single else float("nan")
    exp, imb, ar = f(r, "exposed_comm_ms"), f(r, "imbalance_ms"), f(r, "plain_allreduce_ms")
    print(f"{name:<28}{r['ranks']:>6}{step:>9.1f}{nc:>9.1f}{step / nc - 1:>10.1%}{eff:>8.1%}{exp:>9.1f}{imb:>8.1f}"
          f"{ar:>9.1f}{(exp / ar if ar > 0 else float('nan')):>10.1%}{f(r, 'cpu_ms'):>8.0f}{f(r, 'comm_cpu_ms'):>9.1f}")
names = {"thread-1MB": "Kaon thread, 1 MB (default)",
         "thread-1MB-mpi": "Kaon 1 MB, MPI_Allreduce",
         "thread-1MB-mpi-yield": "Kaon 1 MB, MPI_Allr., yield",
         "thread-1MB-nice-5": "Kaon 1 MB, nice -5",
         "thread-1MB-nice+5": "Kaon 1 MB, nice +5",
         "thread-4MB": "Kaon thread, 4 MB",
         "thread-1MB-spin": "Kaon 1 MB, OMP spin",
         "nonblocking-25MB": "Kaon nonblocking, 25 MB (old)"}
kp = next((r for r in kaon if r["label"] == "no-comm-spin"), None)
if k1: line("Kaon 1 rank", k1, k1, k1)
if k0: line(f"Kaon {N} ranks, no comm", k0, k0, k1)
if kp: line(f"Kaon {N}, no comm, OMP spin", kp, kp, k1)
for label, name in names.items():
    for r in kaon:
        if r["label"] == label: line(name, r, kp if label.endswith("spin") else k0, k1)
if d1: line("DDP 1 rank", d1, d1, d1)
if d0: line(f"DDP {N} ranks, no_sync", d0, d0, d1)
for r in ddp:
    if r["ranks"] == N and r["comm"] == "on": line(f"DDP {N} ranks (gloo, 25 MB)", r, d0, d1)
new = next((r for r in kaon if r["label"] == "thread-1MB"), None)
dd = next((r for r in ddp if r["ranks"] == N and r["comm"] == "on"), None)
if new and k0 and k1:
    ov = f(new, "step_ms") / f(k0, "step_ms") - 1
    eff = f(new, "samples_per_s") / (int(N) * f(k1, "samples_per_s"))
    frac = f(new, "exposed_comm_ms") / f(new, "plain_allreduce_ms")
    print(f"\ntargets (Kaon default): overhead {ov:.1%} (<= 3%: {'met' if ov <= 0.03 else 'NOT met'}); "
          f"exposed fraction {frac:.0%} (<= 20%: {'met' if frac <= 0.2 else 'NOT met'})", end="")
    if dd and d1:
        deff = f(dd, "samples_per_s") / (int(N) * f(d1, "samples_per_s"))
        print(f"; efficiency {eff:.1%} vs DDP {deff:.1%} ({'met' if eff >= deff else 'NOT met'}); "
              f"throughput {f(new, 'samples_per_s'):.0f} vs DDP {f(dd, 'samples_per_s'):.0f} samples/s")
    else:
        print()
    print(f"all {f(new, 'grad_mb'):.1f} MiB of gradients alone, compute idle (default run): MPI_Allreduce "
          f"{f(new, 'plain_allreduce_ms'):.1f} ms, Kaon's sleeping ring {f(new, 'plain_ring_ms'):.1f} ms")
    others = [(f(r, "step_ms") / f(kp if r["label"].endswith("spin") and kp else k0, "step_ms") - 1, names[r["label"]])
              for r in kaon if r["label"] in names and r["label"] != "thread-1MB"]
    if others:
        ov2, name2 = min(others)
        print(f"best other variant: {name2}, overhead {ov2:.1%} (default {ov:.1%}; if it is lower by more than the "
              "noise, see docs/perf-notes.md section 9 for its switch)")
PY
log "# done $(date -u '+%H:%M:%S')"
