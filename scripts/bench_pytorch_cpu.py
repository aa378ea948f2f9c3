#!/usr/bin/env python3
"""PyTorch CPU twin of `kaon-bench-models`: the same two models, the same training step
(forward + loss + backward + SGD-momentum step), the same output table.

Run with Debian's torch:  unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE; /usr/bin/python3 scripts/bench_pytorch_cpu.py
Models (NCHW, float32):
  jet   : input 3x64x64; 3x[conv 3x3 128 same + ReLU + maxpool 2] -> flatten -> dense 512 ReLU
          -> dense 2; softmax cross-entropy; batch 32.
  srcnn : input 2x64x64; conv 9x9 64 same -> ReLU -> conv 3x3 32 same -> ReLU -> conv 5x5 1 same
          + input channel 0 (the residual; --no-residual drops it); MSE; batch 8.
GFLOP/s counts only conv and dense multiply-adds (2 FLOP each) of forward, backward-filter
and backward-data (not for the first layer, whose input needs no gradient), exactly as
kaon-bench-models does, so the two columns compare directly. "cpu ms/step" is the median
process CPU time of a step (all threads), the figure to compare on a busy machine.
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn


def conv_flops(n, c, oc, k, p):
    return 2 * n * oc * c * k * p


def jet(batch):
    net = nn.Sequential(
        nn.Conv2d(3, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(128 * 8 * 8, 512), nn.ReLU(), nn.Linear(512, 2))
    x = torch.randn(batch, 3, 64, 64)
    y = torch.randint(0, 2, (batch,))
    fwd = [conv_flops(batch, 3, 128, 9, 64 * 64), conv_flops(batch, 128, 128, 9, 32 * 32),
           conv_flops(batch, 128, 128, 9, 16 * 16), 2 * batch * 8192 * 512, 2 * batch * 512 * 2]
    flops = 2 * fwd[0] + sum(3 * f for f in fwd[1:])
    return net, x, y, nn.CrossEntropyLoss(), flops, None


class Srcnn(nn.Module):
    def __init__(self, residual):
        super().__init__()
        self.residual = residual
        self.body = nn.Sequential(nn.Conv2d(2, 64, 9, padding=4), nn.ReLU(),
                                  nn.Conv2d(64, 32, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(32, 1, 5, padding=2))

    def forward(self, x):
        y = self.body(x)
        return y + x[:, 0:1] if self.residual else y


def srcnn(batch, residual):
    net = Srcnn(residual)
    x = torch.randn(batch, 2, 64, 64)
    y = torch.randn(batch, 1, 64, 64)
    p = 64 * 64
    fwd = [conv_flops(batch, 2, 64, 81, p), conv_flops(batch, 64, 32, 9, p), conv_flops(batch, 32, 1, 25, p)]
    flops = 2 * fwd[0] + sum(3 * f for f in fwd[1:])
    return net, x, y, nn.MSELoss(), flops, "with residual" if residual else "no residual add"


def run(name, batch, steps, warmup, residual):
    net, x, y, lossfn, flops, note = jet(batch) if name == "jet" else srcnn(batch, residual)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    times, cpu = [], []
    for i in range(warmup + steps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        loss = lossfn(net(x), y)
        loss.backward()
        opt.step()
        t1 = time.perf_counter()
        c1 = time.process_time()
        if i >= warmup:
            times.append(t1 - t0)
            cpu.append(c1 - c0)
    ms = statistics.median(times) * 1e3
    return name, batch, ms, batch / (ms / 1e3), flops / (ms / 1e3) / 1e9, statistics.median(cpu) * 1e3, note


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="all", choices=["jet", "srcnn", "all"])
    ap.add_argument("--batch", type=int, default=0, help="0: the model's default (jet 32, srcnn 8)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-residual", action="store_true", help="SRCNN without the residual add of input channel 0")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    models = ["jet", "srcnn"] if a.model == "all" else [a.model]
    print(f"# pytorch {torch.__version__}  threads {torch.get_num_threads()}  "
          f"mkldnn {torch.backends.mkldnn.is_available()}")
    print(f"{'model':<8} {'batch':>5} {'ms/step':>10} {'samples/s':>10} {'GFLOP/s':>8} {'cpu ms/step':>12}  note")
    for m in models:
        batch = a.batch or (32 if m == "jet" else 8)
        name, b, ms, sps, gf, cpu_ms, note = run(m, batch, a.steps, a.warmup, not a.no_residual)
        print(f"{name:<8} {b:>5} {ms:>10.2f} {sps:>10.1f} {gf:>8.1f} {cpu_ms:>12.2f}  {note or ''}", flush=True)


if __name__ == "__main__":
    main()
