#!/usr/bin/env bash
# Set-up, build (Release, CUDA code compiled when a toolkit is present), then the test suite.
set -euo pipefail
source "$(dirname "$0")/common.sh"
"$KAON_ROOT/scripts/setup.sh"
kaon_build "$@"
cd "$KAON_BUILD_DIR"
ctest --output-on-failure -j "$KAON_JOBS" --timeout 900
