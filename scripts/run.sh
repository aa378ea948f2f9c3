#!/usr/bin/env bash
# Quick start: set-up, Release build, a small synthetic jet-image dataset, and a short
# data-parallel training of the jet CNN on 2 MPI ranks, printing its metrics per epoch.
set -euo pipefail
source "$(dirname "$0")/common.sh"
"$KAON_ROOT/scripts/setup.sh"
kaon_build
out="${KAON_RUN_DIR:-$KAON_ROOT/runs/quickstart}"
rm -rf "$out" && mkdir -p "$out"  # a fresh run each time (configs/jet_cnn.yaml would resume)
ranks="${KAON_RANKS:-2}"
mpirun -np "$ranks" --oversubscribe --bind-to none \
  "$KAON_BUILD_DIR/apps/kaon-train" "$KAON_ROOT/configs/jet_cnn.yaml" \
  --set data.samples=1600 --set trainer.epochs=2 \
  --set trainer.checkpoint.dir="$out" --set logging.metrics_file="$out/metrics.csv" "$@"
echo "metrics: $out/metrics.csv  checkpoint: $out/checkpoint.h5"
