#!/usr/bin/env bash
# End-to-end failure handling of kaon-train under mpiexec (run by ctest):
#  1. a rank that throws, exits or hangs brings the whole job down, non-zero, within 60 s,
#     with a message naming the rank;
#  2. SIGTERM (single process) and SIGUSR1 (to one rank of an mpiexec job) write a checkpoint
#     and exit with 75, and the run resumes from it;
#  3. ranks launched with different configs are refused;
#  4. hierarchical Downpour (top master, 2 sub-masters, 2 workers): a worker or a sub-master
#     dying ends the job non-zero within the limit;
#  5. a Downpour run resumes from its checkpoint (master counters, workers' places).
set -uo pipefail
app="$1"; config="$2"; work="$3"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mpi=(mpiexec -n 2 --oversubscribe --bind-to none)
common=(--set data.samples=1200 --set logging.progress=false --set trainer.stall_timeout=15)
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
rm -rf "$work" && mkdir -p "$work"

for kind in throw exit hang; do
  start=$(date +%s)
  KAON_FAULT_INJECT="1:3:$kind" timeout 120 "${mpi[@]}" "$app" "$config" "${common[@]}" --set trainer.epochs=50 \
    >"$work/$kind.log" 2>&1
  rc=$? elapsed=$(( $(date +%s) - start ))
  [ $rc -ne 0 ] || fail "$kind: job exited 0"
  [ $rc -ne 124 ] || fail "$kind: job still running after 120 s"
  [ $elapsed -le 60 ] || fail "$kind: took ${elapsed}s to end (limit 60 s)"
  case $kind in
    throw) grep -q "error on rank 1: injected fault" "$work/$kind.log" || fail "throw: no message naming rank 1" ;;
    hang) grep -q "made no progress" "$work/$kind.log" || fail "hang: no stall message" ;;
  esac
  echo "$kind: rc=$rc in ${elapsed}s"
done

# SIGTERM to a single process: checkpoint, exit 75, then resume to the end.
ck="$work/ck"
"$app" "$config" "${common[@]}" --set trainer.epochs=400 --set trainer.checkpoint.dir="$ck" >"$work/term.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "epoch 1/400" "$work/term.log" && break; sleep 0.2; done
kill -TERM $pid
wait $pid; rc=$?
[ $rc -eq 75 ] || fail "SIGTERM: exit code $rc, expected 75"
[ -f "$ck/checkpoint.h5" ] || fail "SIGTERM: no checkpoint written"
grep -q "stopped by a signal" "$work/term.log" || fail "SIGTERM: no stop message"
"$app" "$config" "${common[@]}" --set trainer.epochs=3 --set trainer.checkpoint.dir="$ck" >"$work/resume.log" 2>&1
rc=$?
grep -q "resumed from" "$work/resume.log" || fail "resume after SIGTERM did not resume"
echo "sigterm+resume: ok (resume rc=$rc)"

# SIGUSR1 to one rank only (batch systems signal the tasks; a signal may reach some ranks
# first): every rank must agree to stop at the same step, checkpoint once, and exit 75.
ck2="$work/ck2"
"${mpi[@]}" "$app" "$config" "${common[@]}" --set trainer.epochs=400 --set trainer.checkpoint.dir="$ck2" \
  >"$work/usr1.log" 2>&1 &
pid=$!
for _ in $(seq 150); do grep -q "epoch 1/400" "$work/usr1.log" && break; sleep 0.2; done
rank=$(pgrep -P $pid | head -1)
[ -n "$rank" ] && kill -USR1 "$rank" || fail "SIGUSR1: no rank process found under mpiexec"
timeout 60 tail --pid=$pid -f /dev/null; wait $pid; rc=$?
[ $rc -eq 75 ] || fail "SIGUSR1 to one rank: exit code $rc, expected 75"
[ -f "$ck2/checkpoint.h5" ] || fail "SIGUSR1: no checkpoint written"
echo "sigusr1 (one rank): rc=$rc"

# Ranks with different configs: rank 1 gets another learning rate.
timeout 120 mpiexec --oversubscribe --bind-to none -n 1 "$app" "$config" "${common[@]}" --set trainer.epochs=1 : \
  -n 1 "$app" "$config" "${common[@]}" --set trainer.epochs=1 --set optimizer.lr=0.5 >"$work/mismatch.log" 2>&1
rc=$?
[ $rc -ne 0 ] || fail "mismatched configs were accepted"
grep -q "ranks disagree on the config" "$work/mismatch.log" || fail "mismatch: no 'ranks disagree' message"
echo "mismatch: rc=$rc"

# Hierarchical Downpour: rank 3 is a worker, rank 1 a sub-master.
hier=(mpiexec -n 5 --oversubscribe --bind-to none)
for who in 3:worker 1:sub-master; do
  rank=${who%%:*} role=${who#*:}
  start=$(date +%s)
  KAON_FAULT_INJECT="$rank:3:exit" timeout 120 "${hier[@]}" "$app" "$config" "${common[@]}" --set trainer.epochs=50 \
    --set trainer.mode=downpour --set trainer.downpour.masters=2 >"$work/hier-$role.log" 2>&1
  rc=$? elapsed=$(( $(date +%s) - start ))
  [ $rc -ne 0 ] || fail "hierarchical, $role dies: job exited 0"
  [ $rc -ne 124 ] || fail "hierarchical, $role dies: job still running after 120 s"
  [ $elapsed -le 60 ] || fail "hierarchical, $role dies: took ${elapsed}s to end (limit 60 s)"
  echo "hierarchical downpour, $role dies: rc=$rc in ${elapsed}s"
done

# Downpour: one epoch with a checkpoint, then a second run resumes it to two epochs.
ck3="$work/ck3"
down=(--set trainer.mode=downpour --set trainer.checkpoint.dir="$ck3")
timeout 120 "${mpi[@]}" "$app" "$config" "${common[@]}" "${down[@]}" --set trainer.epochs=1 >"$work/down1.log" 2>&1 \
  || fail "downpour: first run failed"
timeout 120 "${mpi[@]}" "$app" "$config" "${common[@]}" "${down[@]}" --set trainer.epochs=2 >"$work/down2.log" 2>&1
rc=$?
[ $rc -eq 0 ] || fail "downpour resume: rc=$rc"
grep -q "resumed downpour" "$work/down2.log" || fail "downpour: the second run did not resume"
grep -q "epoch 2/2" "$work/down2.log" || fail "downpour: the resumed run did not train epoch 2"
! grep -q "epoch 1/2" "$work/down2.log" || fail "downpour: the resumed run trained epoch 1 again"
echo "downpour resume: rc=$rc"

echo "$(( 9 - failures )) passed, $failures failed"
[ $failures -eq 0 ]
