# Shared by run.sh and test.sh: configure and build into $KAON_BUILD_DIR (default build/).
# Open MPI refuses to run as root unless told; CI and containers run as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
KAON_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAON_BUILD_DIR="${KAON_BUILD_DIR:-$KAON_ROOT/build}"
KAON_JOBS="${KAON_JOBS:-$(nproc)}"

kaon_build() {  # kaon_build [extra cmake args...]
  cmake -S "$KAON_ROOT" -B "$KAON_BUILD_DIR" -DCMAKE_BUILD_TYPE="${KAON_BUILD_TYPE:-Release}" "$@" >/dev/null
  cmake --build "$KAON_BUILD_DIR" -j "$KAON_JOBS"
}
