#!/usr/bin/env python3
"""PyTorch twin of kaon-bench-gpu-models: the jet CNN (batch 256) and SRCNN (batch 64, residual
to input channel 0) of benchmarks/bench_models.hpp, one training step (forward, loss, backward,
SGD-momentum step) with the batch on the GPU, synchronising after every step, median ms.

Variants: eager fp32 (TF32 off), eager tf32, bf16 autocast + channels_last, and torch.compile of
that bf16 variant. Prints CSV model,variant,batch,ms_step,tflops,peak_mib (FLOPs counted as in
bench_models.hpp). With --join KAON_CSV TORCH_CSV it prints the comparison table instead."""
import argparse
import csv
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.backends.cudnn.benchmark = True
dev = "cuda"


def conv_flops(n, c, oc, k, p):
    return 2.0 * n * oc * c * k * p


class Jet(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(3 if i == 0 else 128, 128, 3, padding=1) for i in range(3)])
        self.fc1, self.fc2 = nn.Linear(8192, 512), nn.Linear(512, 2)

    def forward(self, x):
        for c in self.convs:
            x = F.max_pool2d(F.relu(c(x)), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


class Srcnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.c3 = nn.Conv2d(2, 64, 9, padding=4), nn.Conv2d(64, 32, 3, padding=1), nn.Conv2d(32, 1, 5, padding=2)

    def forward(self, x):
        return self.c3(F.relu(self.c2(F.relu(self.c1(x))))) + x[:, 0:1]


def setup(name, batch):
    if name == "jet":
        model, x = Jet(), torch.randn(batch, 3, 64, 64)
        y = (torch.arange(batch) % 2).long()
        f0, f1, f2 = conv_flops(batch, 3, 128, 9, 4096), conv_flops(batch, 128, 128, 9, 1024), conv_flops(batch, 128, 128, 9, 256)
        flops = 2 * f0 + 3 * (f1 + f2 + 2.0 * batch * 8192 * 512 + 2.0 * batch * 512 * 2)
        loss_fn = F.cross_entropy
    else:
        model, x, y = Srcnn(), torch.randn(batch, 2, 64, 64), torch.randn(batch, 1, 64, 64)
        p = 4096
        flops = 2 * conv_flops(batch, 2, 64, 81, p) + 3 * (conv_flops(batch, 64, 32, 9, p) + conv_flops(batch, 32, 1, 25, p))
        loss_fn = F.mse_loss
    return model.to(dev), x.to(dev), y.to(dev), flops, loss_fn


def run(name, variant, batch, warmup, steps):
    model, x, y, flops, loss_fn = setup(name, batch)
    tf32 = variant != "eager fp32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    low = "bf16" in variant
    if low:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    fwd = torch.compile(model) if "compile" in variant else model
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=low):
            out = fwd(x)
        loss = loss_fn(out.float(), y)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    ms = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        torch.cuda.synchronize()
        ms.append(1e3 * (time.perf_counter() - t0))
    med = sorted(ms)[len(ms) // 2]
    peak = torch.cuda.max_memory_allocated() / 2**20
    print(f"{name},torch {variant},{batch},{med:.3f},{flops / med / 1e9:.2f},{peak:.0f}", flush=True)


def join(kaon_csv, torch_csv):
    rows = {}
    for path in (kaon_csv, torch_csv):
        with open(path) as f:
            for r in csv.DictReader(f):
                rows[(r["model"], r["variant"])] = r
    models = sorted({m for m, _ in rows}, key=lambda m: (m != "jet", m))
    print(f"{'model':<6} {'variant':<24} {'batch':>5} {'ms/step':>9} {'TFLOP/s':>8} {'peak MiB':>9}  vs reference")
    for m in models:
        ms = lambda v: float(rows[(m, v)]["ms_step"]) if (m, v) in rows else None
        torch_variants = [v for mm, v in rows if mm == m and v.startswith("torch")]
        fastest = min(torch_variants, key=ms) if torch_variants else None
        for (mm, v), r in rows.items():
            if mm != m:
                continue
            ref, label = None, ""
            if v == "kaon fp32" and ms("torch eager fp32"):
                ref, label = ms("torch eager fp32"), "torch eager fp32 (target <= 1.00)"
            elif v == "kaon tf32" and ms("torch eager tf32"):
                ref, label = ms("torch eager tf32"), "torch eager tf32"
            elif v in ("kaon bf16", "kaon fp16") and fastest:
                ref, label = ms(fastest), f"{fastest} (fastest; target <= 0.80 for bf16)"
            ratio = f"{float(r['ms_step']) / ref:.2f}x of {label}" if ref else ""
            phases = f"  [fwd {r['fwd_ms']} bwd {r['bwd_ms']} opt {r['opt_ms']} ms]" if r.get("fwd_ms") else ""
            print(f"{m:<6} {v:<24} {r['batch']:>5} {float(r['ms_step']):>9.3f} {float(r['tflops']):>8.2f} "
                  f"{float(r['peak_mib']):>9.0f}  {ratio}{phases}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--join", nargs=2, metavar=("KAON_CSV", "TORCH_CSV"))
    ap.add_argument("--model", default="all", choices=["jet", "srcnn", "all"])
    ap.add_argument("--variants", default="eager fp32,eager tf32,bf16 autocast+cl,compile bf16+cl")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--jet-batch", type=int, default=256)
    ap.add_argument("--srcnn-batch", type=int, default=64)
    a = ap.parse_args()
    if a.join:
        join(*a.join)
        return
    print("model,variant,batch,ms_step,tflops,peak_mib", flush=True)
    for m in (["jet", "srcnn"] if a.model == "all" else [a.model]):
        for v in a.variants.split(","):
            try:
                run(m, v, a.jet_batch if m == "jet" else a.srcnn_batch, a.warmup, a.steps)
            except Exception as e:  # e.g. torch.compile without a working Triton: report, go on
                print(f"# {m} {v}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
