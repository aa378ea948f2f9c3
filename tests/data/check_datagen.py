#!/usr/bin/python3
"""kaon-datagen output read back by h5py (shapes, dtypes, attributes; 1 rank == 2 ranks ==
--split) and by Kaon (kaon-train trains one short epoch on each generator's file).

usage: check_datagen.py KAON_DATAGEN KAON_TRAIN MPIEXEC WORKDIR     exit 77 without h5py
"""
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

datagen, train, mpiexec, work = sys.argv[1:5]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(cmd, ranks=1):
    if ranks > 1:
        cmd = [mpiexec, "-n", str(ranks)] + cmd
    r = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr)
        raise SystemExit(f"command failed ({r.returncode}): {' '.join(cmd)}")
    return r.stdout + r.stderr


# ---- generation: one rank, two ranks (shared file), two ranks --split ------------------------
jets = ["jet_images", "-n", "120", "--pixels", "25", "--channels", "1", "--block", "50"]
run([datagen] + jets + ["-o", "jets.h5", "--chunk-samples", "16", "--gzip", "4", "--shuffle"])
run([datagen] + jets + ["-o", "jets2.h5"], ranks=2)
run([datagen] + jets + ["-o", "split.h5", "--split"], ranks=2)
run([datagen, "jet_images", "-n", "8", "-o", "jets64.h5"])  # 3x64x64 default
run([datagen, "calo_showers", "-n", "40", "-o", "calo.h5", "--chunk-samples", "8", "--gzip", "1"], ranks=2)
run([datagen, "weather", "-n", "30", "--size", "32", "--factor", "4", "-o", "weather.h5"], ranks=2)

with h5py.File(os.path.join(work, "jets.h5"), "r") as f, h5py.File(os.path.join(work, "jets2.h5"), "r") as g:
    check(f["images"].shape == (120, 1, 25, 25) and f["images"].dtype == np.float32, "jet images shape/dtype")
    check(f["labels"].shape == (120,) and f["labels"].dtype == np.int64, "jet labels shape/dtype")
    check(f["mass"].attrs["units"] == "GeV" and f["pt"].dtype == np.float32, "jet mass units, pt dtype")
    check(f.attrs["generator"] == "jet_images" and f.attrs["samples"] == 120 and f.attrs["pixels"] == 25, "jet attrs")
    check(f["images"].compression == "gzip" and f["images"].shuffle and f["images"].chunks[0] == 16, "jet layout")
    check(set(np.unique(f["labels"][:])) == {0, 1}, "both jet classes present")
    for k in ["images", "labels", "mass", "pt"]:
        check(np.array_equal(f[k][:], g[k][:]), f"1 rank == 2 ranks for {k}")
    with open(os.path.join(work, "split.list")) as lst:
        parts = [l.strip() for l in lst if l.strip() and not l.startswith("#")]
    check(parts == ["split.rank0000.h5", "split.rank0001.h5"], f"split list {parts}")
    joined = np.concatenate([h5py.File(os.path.join(work, p), "r")["images"][:] for p in parts])
    check(np.array_equal(joined, f["images"][:]), "--split parts concatenate to the whole set")
with h5py.File(os.path.join(work, "jets64.h5"), "r") as f:
    check(f["images"].shape == (8, 3, 64, 64), "3x64x64 jet images")
with h5py.File(os.path.join(work, "calo.h5"), "r") as f:
    e, E = f["ECAL"][:], f["energy"][:]
    check(e.shape == (40, 25, 25, 25) and E.shape == (40,) and e.dtype == np.float32, "calo shapes")
    check(f["energy"].attrs["units"] == "GeV" and f.attrs["generator"] == "calo_showers", "calo attrs")
    check(10 <= E.min() and E.max() <= 500 and E.std() > 50, "calo energies span 10-500 GeV")
    ratio = e.sum(axis=(1, 2, 3)) / (0.02 * E)
    check(0.9 < ratio.mean() < 1.0, f"calo response {ratio.mean():.3f}")
with h5py.File(os.path.join(work, "weather.h5"), "r") as f:
    hr, lr, el = f["hr"][:], f["lr"][:], f["elevation"][:]
    check(hr.shape == (30, 1, 32, 32) and lr.shape == (30, 1, 8, 8) and el.shape == (30, 1, 32, 32), "weather shapes")
    check(np.allclose(hr.reshape(30, 1, 8, 4, 8, 4).mean(axis=(3, 5)), lr, atol=1e-3), "lr = block mean of hr")
    check(f["hr"].attrs["units"] == "K" and f["elevation"].attrs["units"] == "m", "weather units")

# ---- read by Kaon: one short training epoch on each file -------------------------------------
def base(name):
    return ["--set", "trainer.epochs=1", "--set", "logging.metrics_file=" + os.path.join(work, name + ".csv"),
            "--set", "logging.progress=false", "--set", "trainer.checkpoint.dir=" + os.path.join(work, "ck_" + name)]



src = os.path.dirname(os.path.abspath(__file__))
config = os.path.join(src, "..", "..", "configs", "jet_image_25.yaml")
out = run([train, config, "--set", "data={source: hdf5, file_list: %s, features: images, labels: labels,"
           " validation_fraction: 0.25}" % os.path.join(work, "split.list")] + base("jets"))
check("epoch 1/1" in out and "val auc" in out, "kaon-train on the --split jet files")
dense = ["--set", "trainer.loss=mse", "--set", "trainer.metrics=[]", "--set", "data.validation_fraction=0.25"]
out = run([train, config, "--set", "model={input_shape: [1, 25, 25, 25], layers: [{type: flatten}, {type: dense, units: 1}]}",
           "--set", "data={source: hdf5, files: %s, features: {dataset: ECAL, shape: [1, 25, 25, 25]}, labels: energy,"
           " normalise: max}" % os.path.join(work, "calo.h5")] + dense + base("calo"))
check("epoch 1/1" in out and os.path.exists(os.path.join(work, "ck_calo", "normalisation.h5")), "kaon-train on calo showers")
out = run([train, config, "--set", "model={input_shape: [1, 8, 8], layers: [{type: flatten}, {type: dense, units: 1024}]}",
           "--set", "data={source: hdf5, files: %s, features: lr, labels: hr}" % os.path.join(work, "weather.h5")]
          + dense + base("weather"))
check("epoch 1/1" in out, "kaon-train on weather fields")

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("kaon-datagen output verified with h5py and kaon-train")
