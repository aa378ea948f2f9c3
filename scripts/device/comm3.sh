#!/usr/bin/env bash
# Issue 4, branch helper-comm3, on the 16-core host, CPU ranks only (no GPU use): the ring
# allreduce that spins while data flows (src/train/ring_allreduce.hpp: 50 us of tests after each
# progress, yielding, then sleeps; 4 pipelined segment lanes per chunk) against the old
# sleep-only ring, and OpenMP's passive waiting, which Kaon now sets when ranks share a node
# (KAON_OMP_WAIT=auto, apps/omp_wait.hpp), against libgomp's spinning default.
# Jet CNN weak scaling, batch 32 per rank, 8 ranks x 2 threads bound to 2 cores each:
#   no comm; ring (default); old ring polling (KAON_RING_SPIN_US=0 KAON_RING_SEGMENTS=1
#   KAON_RING_SPIN_YIELD=0: the previous ring); KAON_ALLREDUCE_RING=0 (every bucket through
#   MPI_Allreduce); no comm and ring with KAON_OMP_WAIT=keep (the spinning OpenMP default);
# then the ring alone, compute idle, against MPI_Allreduce of the same 17.15 MiB and 1 MiB
# (kaon-bench-allreduce), new and old polling, with Open MPI's default shared-memory transport
# and with its single-copy mechanism off (btl_vader_single_copy_mechanism=none: every large
# message in 32 KB fragments, each moved only inside an MPI call; the transport in effect is
# logged). About 70-100 s of runs after the build; runs stop being started after 140 s.
#   OUT=/tmp/out BUILD=/tmp/b scripts/device/comm3.sh      # from the repo root; $BUILD: a CUDA build
# RANKS, THREADS, LAUNCH: as in comm.sh (scripts/device/comm_common.sh), for a dry run:
#   RANKS=2 THREADS=1 LAUNCH="mpirun --bind-to core" OUT=/tmp/c3 BUILD=build-cc scripts/device/comm3.sh
# Writes $OUT/comm3/summary.txt (self-explanatory), kaon.csv, allreduce.csv and one log per run.
set -u
OUT="${OUT:?set OUT to a log directory}/comm3"
NAME=comm3.sh
source scripts/device/comm_common.sh
build_targets kaon-bench-scaling kaon-bench-allreduce
acsv="$OUT/allreduce.csv"
rm -f "$kcsv" "$acsv"
KAON_TIMEOUT=30
log "Open MPI: $(ompi_info --version 2>/dev/null | head -1 | tr -s ' '); vader single copy: $(ompi_info --param btl vader --level 3 2>/dev/null | grep -o 'single_copy_mechanism" (current value: "[a-z]*' | sed 's/.*"//'); kernel.yama.ptrace_scope: $(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null || echo n/a)"
t0=$SECONDS
budget() { (( SECONDS - t0 < 140 )) || { log "skipped $1: past 140 s of runs"; return 1; }; }
OLD="KAON_RING_SPIN_US=0 KAON_RING_SEGMENTS=1 KAON_RING_SPIN_YIELD=0"
budget single && kaon single 1
budget no-comm && kaon no-comm "$RANKS" --no-comm
budget ring && kaon ring "$RANKS"
budget ring-old && ENV="$OLD" kaon ring-old "$RANKS"
budget mpi && ENV="KAON_ALLREDUCE_RING=0" kaon mpi "$RANKS"
budget no-comm-spin && ENV="KAON_OMP_WAIT=keep" kaon no-comm-spin "$RANKS" --no-comm
budget ring-spin && ENV="KAON_OMP_WAIT=keep" kaon ring-spin "$RANKS"
alone() {  # NAME ENV...: kaon-bench-allreduce under the same launch line
  local name=$1 t=$SECONDS x=() e; shift
  for e in "$@"; do x+=(-x "$e"); done
  timeout 30 "${launch[@]}" "${x[@]}" -n "$RANKS" "$BUILD/benchmarks/kaon-bench-allreduce" --mb 17.15 --mb 1 --reps 15 \
    --warmup 3 --label "$name" --csv "$acsv" > "$OUT/alone-$name.log" 2>&1
  log "run alone $name, $RANKS ranks: rc $? in $((SECONDS - t)) s${*:+ ($*)}"
}
budget alone && alone new
budget alone-old && alone old $OLD
budget alone-nocopy && alone new-nocopy OMPI_MCA_btl_vader_single_copy_mechanism=none
budget alone-old-nocopy && alone old-nocopy $OLD OMPI_MCA_btl_vader_single_copy_mechanism=none
python3 - "$kcsv" "$acsv" "$RANKS" "$THREADS" <<'PY' | tee -a "$S"
import csv, os, sys
rows = lambda p: list(csv.DictReader(open(p))) if os.path.exists(p) else []
kaon, alone = rows(sys.argv[1]), rows(sys.argv[2])
N, T = sys.argv[3], sys.argv[4]
f = lambda r, k: float(r[k]) if r and r.get(k) not in (None, "") else float("nan")
get = lambda label: next((r for r in kaon if r["label"] == label), None)
print(f"\n1) Jet CNN, weak scaling, batch 32 per rank, {N} ranks x {T} threads bound to {T} cores; 5 measured steps.")
print("step = wall ms per step; overhead = step / no-comm step of the same OpenMP policy - 1 (target <= 3%);")
print("effic. = samples/s / (ranks x 1-rank samples/s); exposed = comm wait after backward not explained by the")
print("slowest rank; comm cpu = CPU ms per step of the communication thread (slowest rank); cpu = CPU ms per")
print("step of a rank's whole process; alone MPI / alone ring = one allreduce of all gradients (17.15 MiB)")
print("after training, compute idle, by MPI_Allreduce and by the ring with that run's polling (main thread).")
print("ring = Kaon's default (new polling); ring-old = the previous sleep-only ring (KAON_RING_SPIN_US=0")
print("KAON_RING_SEGMENTS=1 KAON_RING_SPIN_YIELD=0); mpi = KAON_ALLREDUCE_RING=0; '-spin' = KAON_OMP_WAIT=keep")
print("(libgomp's spinning default; the others wait passively, Kaon's default with ranks sharing a node).")
print(f"{'run':<14}{'omp wait':<22}{'step':>8}{'no-comm':>9}{'overhead':>10}{'effic.':>8}{'exposed':>9}{'comm cpu':>10}{'cpu':>7}{'alone MPI':>11}{'alone ring':>11}")
single = get("single")
for label, base in [("single", "single"), ("no-comm", "no-comm"), ("ring", "no-comm"), ("ring-old", "no-comm"),
                    ("mpi", "no-comm"), ("no-comm-spin", "no-comm-spin"), ("ring-spin", "no-comm-spin")]:
    r, b = get(label), get(base)
    if not r: print(f"{label:<14}(no result: see {label}-*.log)"); continue
    eff = f(r, "samples_per_s") / (int(r["ranks"]) * f(single, "samples_per_s"))
    print(f"{label:<14}{r.get('omp_wait', ''):<22}{f(r, 'step_ms'):>8.1f}{f(b, 'step_ms'):>9.1f}{f(r, 'step_ms') / f(b, 'step_ms') - 1:>10.1%}"
          f"{eff:>8.1%}{f(r, 'exposed_comm_ms'):>9.1f}{f(r, 'comm_cpu_ms'):>10.1f}{f(r, 'cpu_ms'):>7.0f}"
          f"{f(r, 'plain_allreduce_ms'):>11.1f}{f(r, 'plain_ring_ms'):>11.1f}")
print(f"\n2) Allreduce alone (kaon-bench-allreduce, {N} ranks, compute idle, Average of float32): wall = median of")
print("15 of the slowest rank's ms, cpu = CPU ms of the calling thread per allreduce (slowest rank). new = the")
print("default polling, old = sleep-only ring; '-nocopy' = OMPI_MCA_btl_vader_single_copy_mechanism=none.")
print(f"{'polling':<12}{'MiB':>7}{'MPI wall':>10}{'MPI cpu':>9}{'ring wall':>11}{'ring cpu':>10}{'ring / MPI':>12}")
for label in ["new", "old", "new-nocopy", "old-nocopy"]:
    for mib in sorted({r["mib"] for r in alone if r["label"] == label}, key=float, reverse=True):
        m = next(r for r in alone if r["label"] == label and r["mib"] == mib and r["algo"] == "MPI_Allreduce")
        g = next(r for r in alone if r["label"] == label and r["mib"] == mib and r["algo"] == "ring")
        print(f"{label:<12}{float(mib):>7.2f}{f(m, 'wall_ms'):>10.2f}{f(m, 'cpu_ms'):>9.2f}{f(g, 'wall_ms'):>11.2f}"
              f"{f(g, 'cpu_ms'):>10.2f}{f(g, 'wall_ms') / f(m, 'wall_ms'):>11.2f}x")
ring, old, nc, ncs = get("ring"), get("ring-old"), get("no-comm"), get("no-comm-spin")
if ring and nc:
    print(f"\nverdict: default ring overhead {f(ring, 'step_ms') / f(nc, 'step_ms') - 1:.1%} (<= 3%: "
          f"{'met' if f(ring, 'step_ms') <= 1.03 * f(nc, 'step_ms') else 'NOT met'})", end="")
    if old: print(f"; comm cpu per step new {f(ring, 'comm_cpu_ms'):.1f} vs old ring {f(old, 'comm_cpu_ms'):.1f} ms", end="")
    if ncs: print(f"; no-comm passive {f(nc, 'step_ms'):.1f} vs spinning {f(ncs, 'step_ms'):.1f} ms", end="")
    print()
new = [r for r in alone if r["label"] == "new" and float(r["mib"]) > 10]
if len(new) == 2:
    m, g = sorted(new, key=lambda r: r["algo"])
    print(f"17 MiB alone: ring {f(g, 'wall_ms'):.1f} ms vs MPI_Allreduce {f(m, 'wall_ms'):.1f} ms "
          f"(the previous ring: 97.7 vs 11.9 ms on this host, docs/benchmarks.md section 9)")
PY
log "# done $(date -u '+%H:%M:%S'), runs took $((SECONDS - t0)) s"
