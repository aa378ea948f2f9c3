#!/usr/bin/env python3
"""Speed-up and efficiency curves from scripts/scaling.sh's CSV, as one PNG.

    scripts/plot_scaling.py runs/scaling/scaling.csv [-o scaling.png]
Needs matplotlib (Debian: apt-get install python3-matplotlib).
"""
import argparse
import csv
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("csv")
    p.add_argument("-o", "--output", default=None, help="PNG path (default: next to the CSV)")
    a = p.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("plot_scaling.py: matplotlib is missing (apt-get install python3-matplotlib)")
    rows = [r for r in csv.DictReader(open(a.csv)) if r["comm"] == "on"]
    if not rows:
        sys.exit(f"plot_scaling.py: no rows with communication on in {a.csv}")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for label in sorted({r["label"] for r in rows}):
        pts = sorted((int(r["ranks"]), float(r["samples_per_s"])) for r in rows if r["label"] == label)
        base = dict(pts).get(1)
        if not base:
            continue
        n = [p[0] for p in pts]
        speedup = [p[1] / base for p in pts]
        ax1.plot(n, speedup, "o-", label=label)
        ax2.plot(n, [s / k for s, k in zip(speedup, n)], "o-", label=label)
    top = max(int(r["ranks"]) for r in rows)
    ax1.plot([1, top], [1, top], "k:", label="ideal")
    ax1.set(xlabel="ranks", ylabel="throughput speed-up", title="Speed-up", xscale="log", yscale="log")
    ax2.set(xlabel="ranks", ylabel="efficiency", title="Parallel efficiency", xscale="log", ylim=(0, 1.1))
    for ax in (ax1, ax2):
        ax.grid(True, alpha=0.3)
        ax.legend()
    out = a.output or a.csv.rsplit(".", 1)[0] + ".png"
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(out)


if __name__ == "__main__":
    main()
