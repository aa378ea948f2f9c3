#!/usr/bin/env python3
"""PyTorch twin of kaon-bench-gpu: the same ops and shapes, FP32 with TF32 off (Kaon computes
true FP32), cudnn.benchmark on (Kaon also searches algorithms once per shape). Prints CSV
op,torch_ms with the same timing loop (3 warm-ups, >= 5 reps / 0.3 s, synchronising each rep).
With --join KAON_CSV TORCH_CSV it prints a side-by-side table instead.
--precision tf32|bf16 (with --filter SUBSTRING to pick rows) times the same ops with TF32 math or
in bfloat16, for comparing against PyTorch's fastest variant."""
import sys
import time

import torch
import torch.nn.functional as F

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.backends.cudnn.benchmark = True
dev = "cuda"
conv_bwd = torch.ops.aten.convolution_backward


ONLY = ""  # --filter: time only the ops whose name contains this
DTYPE = torch.float32


def time_it(name, f):
    if ONLY not in name:
        return
    for _ in range(3):
        f()
    torch.cuda.synchronize()
    reps, start, elapsed = 0, time.perf_counter(), 0.0
    while reps < 5 or (elapsed < 0.3 and reps < 200):
        f()
        reps += 1
        torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
    print(f"{name},{1e3 * elapsed / reps:.4f}", flush=True)


def rnd(*shape, lo=-1.0, hi=1.0):
    return torch.empty(shape, device=dev, dtype=DTYPE).uniform_(lo, hi)


def main():
    print("op,torch_ms")
    a, b, c = rnd(4096, 4096), rnd(4096, 4096), rnd(4096, 4096)
    time_it("gemm_4096", lambda: torch.mm(a, b, out=c))
    x, w, bias = rnd(256, 1024), rnd(1024, 1024), rnd(1024)
    time_it("linear_256x1024x1024", lambda: F.linear(x, w, bias))
    convs = [("conv2d_n64_c64_56_k3", (64, 64, 56, 56), (64, 64, 3, 3), 1, 1),
             ("conv2d_n64_c128_28_k3_s2", (64, 128, 28, 28), (256, 128, 3, 3), 2, 1),
             ("conv2d_n32_c3_224_k7_s2", (32, 3, 224, 224), (64, 3, 7, 7), 2, 3),
             ("conv3d_n8_c16_32_k3", (8, 16, 32, 32, 32), (32, 16, 3, 3, 3), 1, 1),
             # the 3DGAN's odd 3-D kernels at batch 128, inputs already zero-padded
             ("gan_g1_k668", (128, 8, 12, 12, 15), (64, 8, 6, 6, 8), 1, 0),
             ("gan_g2_k658", (128, 64, 18, 18, 16), (6, 64, 6, 5, 8), 1, 0),
             ("gan_g3_k338", (128, 6, 28, 28, 33), (6, 6, 3, 3, 8), 1, 0),
             ("gan_d1_k566", (128, 1, 29, 30, 30), (32, 1, 5, 6, 6), 1, 0),
             ("gan_d2_k566", (128, 32, 25, 25, 27), (8, 32, 5, 6, 6), 1, 0),
             ("gan_d3_k566", (128, 8, 21, 20, 24), (8, 8, 5, 6, 6), 1, 0)]
    for name, xs, ws, s, p in convs:
        x, w, bb = rnd(*xs), rnd(*ws), rnd(ws[0])
        nd = len(xs) - 2
        conv = F.conv2d if nd == 2 else F.conv3d
        y = conv(x, w, bb, stride=s, padding=p)
        dy = rnd(*y.shape)
        st, pd, dl = [s] * nd, [p] * nd, [1] * nd
        time_it(name + "_fwd", lambda: conv(x, w, bb, stride=s, padding=p))
        time_it(name + "_bwd_data",
                lambda: conv_bwd(dy, x, w, None, st, pd, dl, False, [0] * nd, 1, [True, False, False]))
        time_it(name + "_bwd_filter",
                lambda: conv_bwd(dy, x, w, [ws[0]], st, pd, dl, False, [0] * nd, 1, [False, True, True]))
    x, w = rnd(64, 64, 56, 56), rnd(64, 64, 4, 4)
    time_it("conv2d_n64_c64_56_k4_same_fwd", lambda: F.conv2d(x, w, padding="same"))
    x = rnd(64, 64, 112, 112)
    time_it("relu_64x64x112x112", lambda: torch.relu(x))
    time_it("maxpool2_64x64x112x112", lambda: F.max_pool2d(x, 2, return_indices=True))
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    time_it("maxpool2_bwd_64x64x112x112",
            lambda: torch.ops.aten.max_pool2d_with_indices_backward(y, x, [2, 2], [2, 2], [0, 0], [1, 1], False, idx))
    bb = rnd(64).view(1, -1, 1, 1)
    time_it("bias_add_64x64x112x112", lambda: x.add_(bb))
    logits = rnd(1024, 1000).requires_grad_()
    labels = torch.arange(1024, device=dev) % 1000

    def ce():
        loss = F.cross_entropy(logits, labels, reduction="none")
        torch.autograd.grad(loss.sum() / 1024, logits)
        return loss
    time_it("softmax_ce_1024x1000", ce)
    time_it("softmax_1024x1000", lambda: torch.softmax(logits.detach(), 1))
    n = 25_000_000
    p = torch.nn.Parameter(rnd(n))
    p.grad = rnd(n)
    adam = torch.optim.Adam([p], lr=1e-3, fused=True)
    time_it("adam_step_25M", adam.step)
    sgd = torch.optim.SGD([p], lr=1e-2, momentum=0.9, fused=True)
    time_it("sgd_momentum_step_25M", sgd.step)
    g = p.grad
    time_it("sum_squares_25M", lambda: torch.dot(g, g).item())


def join(kaon_csv, torch_csv):
    def read(path):
        rows = {}
        for line in open(path):
            parts = line.strip().split(",")
            if len(parts) == 2 and parts[0] != "op":
                rows[parts[0]] = float(parts[1])
        return rows
    k, t = read(kaon_csv), read(torch_csv)
    print(f"{'op':44s} {'kaon ms':>10s} {'torch ms':>10s} {'torch/kaon':>10s}")
    for op, km in k.items():
        tm = t.get(op)
        ratio = f"{tm / km:10.2f}" if tm else f"{'-':>10s}"
        print(f"{op:44s} {km:10.4f} {tm if tm else float('nan'):10.4f} {ratio}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--join":
        join(sys.argv[2], sys.argv[3])
    else:
        args = sys.argv[1:]
        if "--filter" in args:
            ONLY = args[args.index("--filter") + 1]
        precision = args[args.index("--precision") + 1] if "--precision" in args else "fp32"
        if precision == "tf32":
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        elif precision == "bf16":
            DTYPE = torch.bfloat16
        elif precision != "fp32":
            sys.exit(f"bench_torch_ops.py: unknown --precision {precision} (fp32, tf32, bf16)")
        main()
