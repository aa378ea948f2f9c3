#!/usr/bin/env bash
# device: cuda on a machine without a GPU: kaon-train stops at start with a clear error naming
# the rank, non-zero, on one rank and under mpiexec (every rank reports). Skips (77) where a GPU
# is there (the same request then succeeds).
set -uo pipefail
app="$1"; config="$2"; work="$3"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
rm -rf "$work" && mkdir -p "$work"
if timeout 120 "$app" "$config" --set device=cuda --summary >"$work/one.log" 2>&1; then
  echo "a GPU is present: device: cuda works here"; exit 77
fi
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
grep -q "error: device: cuda was requested, but rank 0" "$work/one.log" || fail "one rank: no clear message"
timeout 120 mpiexec -n 2 --oversubscribe --bind-to none "$app" "$config" --set device=cuda --summary \
  >"$work/two.log" 2>&1
rc=$?
[ $rc -ne 0 ] || fail "two ranks: exited 0"
[ $rc -ne 124 ] || fail "two ranks: still running after 120 s"
grep -q "error on rank [01]: device: cuda was requested, but rank 0" "$work/two.log" || fail "two ranks: no message naming the rank"
# device: auto falls back to the CPU and runs.
timeout 120 "$app" "$config" --set device=auto --summary >"$work/auto.log" 2>&1 || fail "device: auto did not run on the CPU"
cat "$work"/*.log | grep -i "error" | head -5
[ $failures -eq 0 ] && echo "device request checks passed"
exit $failures
