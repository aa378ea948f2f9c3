#!/usr/bin/python3
"""kaon-train with trainer.kind: gan end to end: kaon-datagen writes tiny showers, kaon-train
trains the tiny 3DGAN one epoch (1 rank and 2 ranks), --generate writes showers that h5py reads
back with their energies, and a GAN with trainer.mode: downpour is refused.

usage: check_gan.py KAON_DATAGEN KAON_TRAIN MPIEXEC CONFIG WORKDIR     exit 77 without h5py
"""
import csv
import os
import shutil
import subprocess
import sys

try:
    import h5py
    import numpy as np
except ImportError:
    print("h5py/numpy not available", file=sys.stderr)
    sys.exit(77)

datagen, train, mpiexec, config, work = sys.argv[1:6]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OMP_NUM_THREADS="1")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(cmd, expect_ok=True):
    p = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    if (p.returncode == 0) != expect_ok:
        print(p.stdout[-3000:], p.stderr[-3000:])
        failures.append(" ".join(cmd))
    return p


run([datagen, "calo_showers", "-o", "showers.h5", "-n", "24", "--cells", "4", "--energy-min", "10",
     "--energy-max", "100", "--seed", "2"])
common = ["--set", "data.files=showers.h5"]
run([train, config] + common)
with open(os.path.join(work, "run", "metrics.csv")) as f:
    rows = list(csv.DictReader(f))
check(len(rows) == 1, "one epoch record")
for key in ["train_g_loss", "train_d_loss_real", "val_sampling_fraction_real", "val_profile_z_chi2",
            "val_ecal_real_mean_10-50", "val_energy_mape_real"]:
    check(key in rows[0] and np.isfinite(float(rows[0][key])), "metric " + key)
# 4 cells (2 Moliere radii, 4 X0) contain a small part of a shower: below the 2% of full containment.
check(0 < float(rows[0]["val_sampling_fraction_real"]) < 0.02, "real sampling fraction in (0, 2%)")

run([train, config, "--generate", "10", "--out", "generated.h5"] + common)
with h5py.File(os.path.join(work, "generated.h5"), "r") as f:
    ecal, energy = f["ECAL"][:], f["energy"][:]
check(ecal.shape == (10, 4, 4, 4) and ecal.dtype == np.float32, "generated ECAL shape/dtype %s" % (ecal.shape,))
check(np.allclose(energy, np.linspace(10, 100, 10)), "generated energies")
check(np.all(np.isfinite(ecal)) and np.all(ecal >= 0), "generated deposits finite and >= 0 (ReLU)")

# Two ranks, a fresh run directory; the global batch 4 splits into 2 + 2.
run([mpiexec, "-n", "2", "--oversubscribe", "--bind-to", "none", train, config, "--set",
     "trainer.checkpoint.dir=run2", "--set", "logging.metrics_file=run2/metrics.csv"] + common)
check(os.path.exists(os.path.join(work, "run2", "checkpoint.h5")), "2-rank checkpoint")

p = run([train, config, "--set", "trainer.mode=downpour"] + common, expect_ok=False)
check("not implemented: GAN with mode downpour" in p.stderr, "downpour refused: " + p.stderr[-300:])

if failures:
    print("%d failure(s)" % len(failures))
    sys.exit(1)
print("GAN apps check passed")
