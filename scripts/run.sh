#!/usr/bin/env bash
# Quick start: set-up, Release build, a small synthetic jet-image data set written to HDF5 by
# kaon-datagen, and a short data-parallel training of the jet CNN on 2 MPI ranks, read from
# that file (prefetching loader), printing its metrics per epoch.
set -euo pipefail
source "$(dirname "$0")/common.sh"
"$KAON_ROOT/scripts/setup.sh"
kaon_build
out="${KAON_RUN_DIR:-$KAON_ROOT/runs/quickstart}"
rm -rf "$out" && mkdir -p "$out"  # a fresh run each time (configs/jet_cnn.yaml would resume)
"$KAON_BUILD_DIR/apps/kaon-datagen" jet_images -o "$out/jets.h5" -n 2400 --pixels 64 --channels 3 --seed 1234
ranks="${KAON_RANKS:-2}"
mpirun -np "$ranks" --oversubscribe --bind-to none \
  "$KAON_BUILD_DIR/apps/kaon-train" "$KAON_ROOT/configs/jet_cnn.yaml" \
  --set "data={source: hdf5, files: $out/jets.h5, features: images, labels: labels, validation_fraction: 0.2}" \
  --set trainer.epochs=2 \
  --set trainer.checkpoint.dir="$out" --set logging.metrics_file="$out/metrics.csv" "$@"
echo "data: $out/jets.h5  metrics: $out/metrics.csv  checkpoint: $out/checkpoint.h5"
