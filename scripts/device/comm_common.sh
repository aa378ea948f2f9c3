# Shared by scripts/device/comm.sh and comm3.sh (source it from the repo root after setting
# NAME): checks OUT and BUILD, defines log (to the terminal and $OUT/summary.txt), the launch
# line for RANKS ranks x THREADS threads bound to THREADS cores each, and
#   [ENV="A=1 B=2"] kaon NAME RANKS ARGS...   one kaon-bench-scaling run (ENV passed to every
#                                             rank with mpirun -x), its row appended to $kcsv.
# RANKS (8), THREADS (2) and LAUNCH (the mpirun line) override the defaults for a dry run on a
# small machine, e.g. RANKS=2 THREADS=1 LAUNCH="mpirun --bind-to core".
: "${OUT:?set OUT to a log directory}"
BUILD="${BUILD:?set BUILD to the CUDA build directory}"
mkdir -p "$OUT"
S="$OUT/summary.txt"
log() { echo "$*" | tee -a "$S"; }
log "# ${NAME:-comm} $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
RANKS="${RANKS:-8}" THREADS="${THREADS:-2}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS="$THREADS"
bench="$BUILD/benchmarks/kaon-bench-scaling"
read -r -a launch <<< "${LAUNCH:-mpirun --oversubscribe --bind-to core --map-by slot:PE=$THREADS}"
common=(--batch-per-rank 32 --steps 5 --warmup 1 --threads "$THREADS")
kcsv="$OUT/kaon.csv"
# Builds the given targets of $BUILD (at most 240 s), or logs the errors and exits.
build_targets() {
  local t0=$SECONDS
  timeout 240 cmake --build "$BUILD" -j16 --target "$@" > "$OUT/build.log" 2>&1 ||
    { log "build failed"; grep -E "error" -A3 "$OUT/build.log" | head -40 | tee -a "$S"; exit 1; }
  log "build: $((SECONDS - t0)) s"
}
kaon() {  # [ENV="A=1 B=2"] kaon NAME RANKS ARGS...
  local name=$1 n=$2; shift 2
  local t=$SECONDS x=() e
  for e in ${ENV:-}; do x+=(-x "$e"); done
  timeout "${KAON_TIMEOUT:-40}" "${launch[@]}" "${x[@]}" -n "$n" "$bench" "${common[@]}" --label "$name" --csv "$kcsv" "$@" \
    > "$OUT/$name-$n.log" 2>&1
  log "run kaon $name, $n ranks: rc $? in $((SECONDS - t)) s${ENV:+ (${ENV})}"
}
