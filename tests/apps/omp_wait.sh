#!/usr/bin/env bash
# KAON_OMP_WAIT end to end (apps/omp_wait.hpp): omp_wait_check, started like every Kaon app,
# verifies the wait policy in effect on each rank (by the CPU time of an idle OpenMP worker).
#   omp_wait.sh OMP_WAIT_CHECK MPIEXEC
set -u
check=$1 mpiexec=$2
fail=0
run() {  # EXPECTED-RC EXPECTED-POLICY DESCRIPTION ENV... (ENV as VAR=VALUE, passed by mpiexec -x)
  local rc=$1 want=$2 what=$3; shift 3
  local x=() np=2 e
  for e in "$@"; do
    if [[ $e == NP=* ]]; then np=${e#NP=}; else x+=(-x "$e"); fi
  done
  out=$(timeout 60 "$mpiexec" -n "$np" --oversubscribe --bind-to none "${x[@]}" "$check" "$want" 2>&1)
  got=$?
  if [[ $got -ne $rc ]]; then
    echo "FAIL: $what: exit $got, expected $rc"; echo "$out" | head -20; fail=1
  else
    echo "ok: $what: $(echo "$out" | grep -m1 -E 'OpenMP wait|error')"
  fi
}
run 0 passive "2 ranks on one node, auto: passive, set by Kaon (re-executed)"
run 0 passive "KAON_OMP_WAIT=passive on 1 rank" NP=1 KAON_OMP_WAIT=passive
run 0 default "1 rank, auto: the runtime's default" NP=1
run 0 default "KAON_OMP_WAIT=keep on 2 ranks: the runtime's default" KAON_OMP_WAIT=keep
run 0 active "the user's OMP_WAIT_POLICY=active wins over auto" OMP_WAIT_POLICY=active
out=$(timeout 60 "$mpiexec" -n 2 --oversubscribe --bind-to none -x KAON_OMP_WAIT=sleepy "$check" passive 2>&1)
got=$?
if [[ $got -eq 0 ]] || ! grep -q "KAON_OMP_WAIT='sleepy': expected auto, passive or keep" <<< "$out"; then
  echo "FAIL: a bad KAON_OMP_WAIT: exit $got"; echo "$out" | head -10; fail=1
else
  echo "ok: a bad KAON_OMP_WAIT is refused: $(grep -m1 'KAON_OMP_WAIT' <<< "$out")"
fi
exit $fail
