#!/usr/bin/env python3
"""PyTorch twin of Kaon's 3DGAN training step (configs/calo_gan.yaml, train::GanTrainer::trainStep).

One step, exactly as Kaon: the discriminator on a real batch and on a generated batch (generator in
eval mode, no grad), each followed by an RMSprop update; then two generator updates through the
discriminator with its parameters frozen. Loss = 2 * BCE-with-logits + 0.1 * MAPE(energy) + 0.1 *
MAPE(ECAL sum). Layers, paddings (TensorFlow 'same': the odd pixel after), LeakyReLU 0.3, batch
norm (Keras momentum 0.99 = torch 0.01, eps 1e-3) and dropout 0.2 as in the Kaon config; NCDHW.

  bench_torch_3dgan.py --device cpu --batch 8 --steps 5 --warmup 1 [--threads 2]
  bench_torch_3dgan.py --device cuda --batch 128 --steps 20 --warmup 5

Variants: eager fp32 (TF32 off, as Kaon) everywhere; on cuda also bf16 autocast + channels_last_3d,
and torch.compile of that (PyTorch >= 2). Prints one row per variant: ms/step (median), samples/s,
and CPU ms/step (process time; the figure to compare on a busy machine).
"""
import argparse
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# Multiply-adds x 2 per sample of one step, as benchmarks/bench_gan3d.hpp counts them.
GFLOP_PER_SAMPLE = 3 * 1.19 + (0.51 + 3 * 1.19) + 2 * (0.51 + 2 * 1.19 + 2 * 0.51)


def same_pad(kernel):
    # TensorFlow/Kaon 'same' for stride 1: total k-1, the smaller half before.
    pads = []
    for k in reversed(kernel):  # F.pad wants the last axis first
        total = k - 1
        pads += [total // 2, total - total // 2]
    return tuple(pads)


class Pad(nn.Module):
    def __init__(self, pads):
        super().__init__()
        self.pads = pads

    def forward(self, x):
        return F.pad(x, self.pads)


def zero_pad(d, h, w):  # symmetric per axis, Keras ZeroPadding3D((d, h, w))
    return Pad((w, w, h, h, d, d))


def bn(c):
    return nn.BatchNorm3d(c, momentum=0.01, eps=1e-3)


class Generator(nn.Module):
    def __init__(self, latent=200):
        super().__init__()
        self.dense = nn.Linear(latent, 3136)
        self.body = nn.Sequential(
            Pad(same_pad((6, 6, 8))), nn.Conv3d(8, 64, (6, 6, 8)), nn.LeakyReLU(0.3), bn(64),
            nn.Upsample(scale_factor=(2, 2, 2)), zero_pad(2, 2, 0),
            nn.Conv3d(64, 6, (6, 5, 8)), nn.LeakyReLU(0.3), bn(6),
            nn.Upsample(scale_factor=(2, 2, 3)), zero_pad(1, 0, 3),
            nn.Conv3d(6, 6, (3, 3, 8)), nn.LeakyReLU(0.3),
            nn.Conv3d(6, 1, (2, 2, 2), bias=False), nn.ReLU())

    def forward(self, z):
        return self.body(self.dense(z).view(-1, 8, 7, 7, 8))


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            Pad(same_pad((5, 6, 6))), nn.Conv3d(1, 32, (5, 6, 6)), nn.LeakyReLU(0.3), nn.Dropout(0.2),
            zero_pad(0, 0, 1), nn.Conv3d(32, 8, (5, 6, 6)), nn.LeakyReLU(0.3), bn(8), nn.Dropout(0.2),
            zero_pad(0, 0, 1), nn.Conv3d(8, 8, (5, 6, 6)), nn.LeakyReLU(0.3), bn(8), nn.Dropout(0.2),
            nn.Conv3d(8, 8, (5, 6, 6)), nn.LeakyReLU(0.3), bn(8), nn.Dropout(0.2),
            nn.AvgPool3d(2), nn.Flatten())
        self.fake = nn.Linear(1680, 1)
        self.energy = nn.Linear(1680, 1)

    def forward(self, image):
        h = self.body(image)
        return self.fake(h), self.energy(h), image.sum(dim=(2, 3, 4))


def mape(pred, target):
    return 100.0 * ((pred - target).abs() / target.abs().clamp_min(1e-7)).mean()


def head_loss(out, label, energy, ecal):
    logit, e, s = out
    return (2.0 * F.binary_cross_entropy_with_logits(logit.float(), label) + 0.1 * mape(e.float(), energy)
            + 0.1 * mape(s.float(), ecal))


def make_step(G, D, opt_g, opt_d, batch, device, autocast):
    latent = 200
    ones = torch.ones(batch, 1, device=device)
    zeros = torch.zeros(batch, 1, device=device)
    def amp():
        return torch.autocast("cuda", dtype=torch.bfloat16) if autocast else _Null()

    def sample():
        e = torch.empty(batch, 1, device=device).uniform_(10, 500)
        return torch.randn(batch, latent, device=device) * e * 0.01, e * 0.01, e * 0.02

    def step(real, real_energy):
        ecal_real = real.sum(dim=(2, 3, 4))
        # Discriminator on the real batch.
        opt_d.zero_grad(set_to_none=True)
        with amp():
            loss = head_loss(D(real), ones, real_energy * 0.01, ecal_real)
        loss.backward()
        opt_d.step()
        # Discriminator on a generated batch (generator in inference mode).
        z, e, s = sample()
        G.eval()
        with torch.no_grad(), amp():
            fake = G(z)
        G.train()
        opt_d.zero_grad(set_to_none=True)
        with amp():
            loss = head_loss(D(fake.float()), zeros, e, s)
        loss.backward()
        opt_d.step()
        # Two generator updates through the frozen discriminator.
        for p in D.parameters():
            p.requires_grad_(False)
        for _ in range(2):
            z, e, s = sample()
            opt_g.zero_grad(set_to_none=True)
            with amp():
                loss = head_loss(D(G(z)), ones, e, s)
            loss.backward()
            opt_g.step()
        for p in D.parameters():
            p.requires_grad_(True)
        return loss

    return step


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def run(variant, args, device):
    torch.manual_seed(1)
    G, D = Generator().to(device), Discriminator().to(device)
    channels_last = variant != "eager fp32"
    if channels_last:
        G = G.to(memory_format=torch.channels_last_3d)
        D = D.to(memory_format=torch.channels_last_3d)
    opt_g = torch.optim.RMSprop(G.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    opt_d = torch.optim.RMSprop(D.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    real = torch.relu(torch.randn(args.batch, 1, 25, 25, 25, device=device)) * 0.01
    if channels_last:
        real = real.contiguous(memory_format=torch.channels_last_3d)
    energy = torch.empty(args.batch, 1, device=device).uniform_(10, 500)
    step = make_step(G, D, opt_g, opt_d, args.batch, device, autocast=variant != "eager fp32")
    if variant.startswith("compile"):
        step = torch.compile(step)
    ms, cpu = [], []
    for i in range(args.warmup + args.steps):
        if i == args.warmup and device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        c0, t0 = time.process_time(), time.perf_counter()
        step(real, energy)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t1, c1 = time.perf_counter(), time.process_time()
        if i >= args.warmup:
            ms.append((t1 - t0) * 1e3)
            cpu.append((c1 - c0) * 1e3)
    if args.profile and device.type == "cuda":
        # One more step under the profiler: the kernels behind the time, for comparison with
        # `KAON_PROFILE_LAST_STEP=1 ncu --profile-from-start off kaon-bench-models ...`.
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            step(real, energy)
            torch.cuda.synchronize()
        print(f"# profile of one step, {variant}", file=sys.stderr)
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=40, max_name_column_width=110),
              file=sys.stderr)
    med = statistics.median(ms)
    memory = f", peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB" if device.type == "cuda" else ""
    gflop = GFLOP_PER_SAMPLE * args.batch / (med / 1e3)
    print(f"{'gan3d':<8} {args.batch:>5} {med:>10.2f} {args.batch / (med / 1e3):>10.1f} {gflop:>8.1f} "
          f"{statistics.median(cpu):>12.2f}  torch {torch.__version__} {device.type} {variant}{memory}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--variants", default="", help="comma-separated subset of the variants")
    ap.add_argument("--profile", action="store_true", help="print the kernels of one more step (stderr)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    variants = ["eager fp32"]
    if device.type == "cuda":
        variants.append("bf16 channels_last")
        if hasattr(torch, "compile"):
            variants.append("compile bf16 channels_last")
    if args.variants:
        variants = [v for v in variants if v in args.variants.split(",")]
    print(f"# torch {torch.__version__}  device {device}  threads {torch.get_num_threads()}")
    print(f"{'model':<8} {'batch':>5} {'ms/step':>10} {'samples/s':>10} {'GFLOP/s':>8} {'cpu ms/step':>12}  note")
    for v in variants:
        run(v, args, device)


if __name__ == "__main__":
    main()
