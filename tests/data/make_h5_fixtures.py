#!/usr/bin/python3
"""Writes the HDF5 / netCDF files test_hdf5 reads back: every dtype, chunked and compressed
layouts, channels-last images, column selection, netCDF-4 packing, class-separated files and
one file per bad-input case. Expected values are stored next to the data as float32 computed
by numpy, so the C++ test compares Kaon's conversion with numpy's.

usage: make_h5_fixtures.py OUTDIR     exit 77 when h5py/numpy are missing (test skipped)
"""
import os
import sys

try:
    import h5py
    import numpy as np
except ImportError:
    print("h5py/numpy not available", file=sys.stderr)
    sys.exit(77)

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)
N = 40


def path(name):
    return os.path.join(out, name)


# Every dtype, [N, 2, 3]; values fit every type (incl. unsigned and float16 exactly or rounded).
base = rng.integers(0, 100, size=(N, 2, 3)).astype(np.float64) + 0.0
with h5py.File(path("dtypes.h5"), "w") as f:
    for dt in ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"]:
        f.create_dataset("x_" + dt, data=base.astype(dt))
    frac = base / 7.0  # non-integral values exercise float rounding
    for dt in ["float16", "float32", "float64"]:
        f.create_dataset("x_" + dt, data=frac.astype(dt))
        f.create_dataset("expected_" + dt, data=frac.astype(dt).astype(np.float32))
    f.create_dataset("x_be_float64", data=frac.astype(">f8"))
    f.create_dataset("expected_be_float64", data=frac.astype(np.float32))
    f.create_dataset("expected_int", data=base.astype(np.float32))
    # Special float16 values: subnormal, max, -0, inf (inf only checked through on_nan).
    f.create_dataset("x_half_special", data=np.array([[6e-8, 65504.0, -0.0, 1.5e-5]], dtype=np.float16).repeat(N, 0))
    f.create_dataset("expected_half_special",
                     data=np.array([[6e-8, 65504.0, -0.0, 1.5e-5]], dtype=np.float16).astype(np.float32).repeat(N, 0))
    f.create_dataset("x_bool", data=(np.arange(N) % 3 == 0))
    f.create_dataset("expected_bool", data=(np.arange(N) % 3 == 0).astype(np.float32))
    labels = (np.arange(N) % 2).astype(np.int64)
    f.create_dataset("labels", data=labels)
    # Chunked, gzip, gzip + shuffle: same values as x_float32.
    f.create_dataset("chunked", data=frac.astype(np.float32), chunks=(7, 2, 3))
    f.create_dataset("gzip", data=frac.astype(np.float32), chunks=(5, 2, 3), compression="gzip", compression_opts=4)
    f.create_dataset("gzip_shuffle", data=frac.astype(np.float32), chunks=(8, 1, 3), compression="gzip",
                     shuffle=True)
    f.create_dataset("gzip_int16", data=base.astype(np.int16), chunks=(3, 2, 3), compression="gzip", shuffle=True)
    f.create_dataset("weights", data=np.linspace(0.5, 1.5, N).astype(np.float32))
    f.create_dataset("energy", data=np.linspace(10, 500, N).astype(np.float64))
    # Regression targets [N, 3]: column 1 is the one a model wants.
    target = np.stack([np.arange(N), 100 + np.arange(N), 200 + np.arange(N)], axis=1).astype(np.float32)
    f.create_dataset("target", data=target)
    f.create_dataset("strings", data=np.array([b"a"] * N))
    f.create_dataset("scalar", data=3.0)

# Channels-last images [N, H, W, C] and the channels-first answer [N, C, H, W].
img = rng.normal(size=(N, 4, 5, 3)).astype(np.float32)
with h5py.File(path("channels_last.h5"), "w") as f:
    f.create_dataset("images", data=img, chunks=(4, 4, 5, 3), compression="gzip")
    f.create_dataset("expected", data=np.ascontiguousarray(img.transpose(0, 3, 1, 2)))
    f.create_dataset("labels", data=np.arange(N) % 2)

# Several files and a list file (relative paths, a comment, a blank line).
for k, n in enumerate([13, 20, 7]):
    with h5py.File(path(f"part{k}.h5"), "w") as f:
        start = sum([13, 20, 7][:k])
        f.create_dataset("x", data=(start + np.arange(n, dtype=np.float32)).reshape(n, 1).repeat(3, 1))
        f.create_dataset("y", data=(start + np.arange(n)) % 2)
with open(path("parts.txt"), "w") as f:
    f.write("# training files\npart0.h5\n\npart1.h5   \npart2.h5\n")

# Class-separated: signal in one file, background in another; and both in one file.
with h5py.File(path("signal.h5"), "w") as f:
    f.create_dataset("images", data=np.full((10, 1, 2, 2), 1.0, dtype=np.float32))
with h5py.File(path("background.h5"), "w") as f:
    f.create_dataset("images", data=np.full((30, 1, 2, 2), -1.0, dtype=np.float32))
with h5py.File(path("both.h5"), "w") as f:
    f.create_dataset("sig", data=np.full((10, 1, 2, 2), 1.0, dtype=np.float32))
    f.create_dataset("bkg", data=np.full((30, 1, 2, 2), -1.0, dtype=np.float32))

# Per-channel statistics: channel c ~ mean 10c, std c+1.
stats = rng.normal(size=(200, 2, 3, 3)) * np.array([1, 2]).reshape(1, 2, 1, 1) + np.array([0, 10]).reshape(1, 2, 1, 1)
with h5py.File(path("stats.h5"), "w") as f:
    f.create_dataset("x", data=stats.astype(np.float32))
    f.create_dataset("y", data=np.zeros(200))

# netCDF-4 with CF packing (int16 * scale_factor + add_offset, _FillValue -> missing).
packed = rng.integers(-3000, 3000, size=(N, 6, 8)).astype(np.int16)
packed[3, 2, 2] = -32767
scale, offset = 0.01, 273.15
expected = packed.astype(np.float64) * scale + offset
expected[packed == -32767] = np.nan
try:
    import netCDF4

    with netCDF4.Dataset(path("weather.nc"), "w", format="NETCDF4") as nc:
        nc.createDimension("time", N)
        nc.createDimension("lat", 6)
        nc.createDimension("lon", 8)
        v = nc.createVariable("t2m", "i2", ("time", "lat", "lon"), fill_value=np.int16(-32767), zlib=True)
        v.set_auto_maskandscale(False)
        v.scale_factor = scale
        v.add_offset = offset
        v[:] = packed
        y = nc.createVariable("label", "f4", ("time",))
        y[:] = np.arange(N, dtype=np.float32)
        nc.createVariable("lat", "f4", ("lat",))[:] = np.linspace(40, 45, 6)
    writer = "netCDF4"
except ImportError:  # imitate what netCDF4 writes: the same attributes on HDF5 datasets
    with h5py.File(path("weather.nc"), "w") as f:
        v = f.create_dataset("t2m", data=packed, compression="gzip")
        v.attrs["scale_factor"] = scale
        v.attrs["add_offset"] = offset
        v.attrs["_FillValue"] = np.int16(-32767)
        f.create_dataset("label", data=np.arange(N, dtype=np.float32))
    writer = "h5py"
with h5py.File(path("weather_expected.h5"), "w") as f:
    f.create_dataset("t2m", data=expected.astype(np.float32))
    f.attrs["writer"] = writer

# ---- bad inputs -------------------------------------------------------------------------
with h5py.File(path("lzf.h5"), "w") as f:
    f.create_dataset("x", data=np.ones((N, 3), np.float32), compression="lzf")
    f.create_dataset("y", data=np.zeros(N))
with h5py.File(path("mismatch.h5"), "w") as f:
    f.create_dataset("x", data=np.ones((N, 3), np.float32))
    f.create_dataset("y", data=np.zeros(N - 1))
with h5py.File(path("nan.h5"), "w") as f:
    x = np.ones((N, 3), np.float32)
    x[5, 1] = np.nan
    x[17, 0] = np.inf
    f.create_dataset("x", data=x)
    f.create_dataset("y", data=np.arange(N) % 2)
    f.create_dataset("x16", data=x.astype(np.float16))
with h5py.File(path("empty.h5"), "w") as f:
    f.create_dataset("x", shape=(0, 3), dtype=np.float32)
    f.create_dataset("y", shape=(0,), dtype=np.float32)
with h5py.File(path("other_shape.h5"), "w") as f:
    f.create_dataset("x", data=np.ones((5, 4), np.float32))
    f.create_dataset("y", data=np.zeros(5))
with h5py.File(path("small.h5"), "w") as f:
    f.create_dataset("x", data=np.ones((3, 3), np.float32))
    f.create_dataset("y", data=np.zeros(3))
with open(path("dtypes.h5"), "rb") as src:
    whole = src.read()
with open(path("truncated.h5"), "wb") as f:
    f.write(whole[: len(whole) // 2])
with open(path("not_hdf5.h5"), "w") as f:
    f.write("x,y\n1,2\n")
with open(path("netcdf3.nc"), "wb") as f:  # classic netCDF header: magic, numrecs, no dims/attrs/vars
    f.write(b"CDF\x01" + b"\x00" * 28)
open(path("zero_bytes.h5"), "wb").close()
print(f"fixtures written to {out} (netCDF file by {writer})")
