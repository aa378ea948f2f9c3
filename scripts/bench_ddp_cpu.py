#!/usr/bin/env python3
"""PyTorch DDP (gloo, CPU) twin of kaon-bench-scaling: the jet CNN, batch per rank, step time
with gradient communication on, and with it off (DDP's no_sync), for the same sweep.

    python3 -m torch.distributed.run --nproc_per_node 4 scripts/bench_ddp_cpu.py --threads 2 --csv ddp.csv
    mpirun -n 4 python3 scripts/bench_ddp_cpu.py --threads 2 --csv ddp.csv   # same launcher as Kaon
Rank 0 appends one row per mode to --csv with the columns of kaon-bench-scaling.
"""
import argparse
import os
import time

import torch
import torch.distributed as dist
import torch.nn as nn


def jet_cnn(pixels, filters):
    layers, c = [], 3
    for _ in range(3):
        layers += [nn.Conv2d(c, filters, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        c = filters
    side = pixels // 8
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(filters * side * side, 512), nn.ReLU(), nn.Linear(512, 2))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch-per-rank", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pixels", type=int, default=64)
    p.add_argument("--filters", type=int, default=128)
    p.add_argument("--csv", default="")
    p.add_argument("--label", default="weak", help="put in the CSV row as pytorch-ddp-<label>")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if "RANK" not in os.environ and "OMPI_COMM_WORLD_RANK" in os.environ:
        # Launched by Open MPI's mpirun (one host): gloo's env:// rendezvous from its variables.
        os.environ.update(RANK=os.environ["OMPI_COMM_WORLD_RANK"], WORLD_SIZE=os.environ["OMPI_COMM_WORLD_SIZE"],
                          MASTER_ADDR="127.0.0.1", MASTER_PORT=os.environ.get("KAON_DDP_PORT", "29533"))
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(1)
    model = torch.nn.parallel.DistributedDataParallel(jet_cnn(a.pixels, a.filters))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(a.batch_per_rank, 3, a.pixels, a.pixels)
    y = torch.randint(0, 2, (a.batch_per_rank,))
    rows = []
    for comm in ("on", "off"):
        def step():
            opt.zero_grad(set_to_none=True)
            if comm == "on":
                loss_fn(model(x), y).backward()
            else:
                with model.no_sync():
                    loss_fn(model(x), y).backward()
            opt.step()
        for _ in range(a.warmup):
            step()
        dist.barrier()
        t, cpu = time.perf_counter(), time.process_time()
        for _ in range(a.steps):
            step()
        cpu_ms = 1e3 * (time.process_time() - cpu) / a.steps  # all threads of this process
        dist.barrier()
        ms = 1e3 * (time.perf_counter() - t) / a.steps
        rows.append(f"pytorch-ddp-{a.label},{world},{a.batch_per_rank},{a.threads},{comm},{ms:.2f},,,,,"
                    f"{a.batch_per_rank * world / (ms / 1e3):.1f},,,,,,gloo,25,{cpu_ms:.1f}")
    if rank == 0:
        header = ("label,ranks,batch_per_rank,threads,comm,step_ms,compute_ms,exposed_comm_ms,data_ms,"
                  "optimizer_ms,samples_per_s,grad_mb,plain_allreduce_ms,bus_gbps,imbalance_ms,exposed_share,"
                  "allreduce,bucket_mb,cpu_ms")
        print(header)
        print("\n".join(rows))
        if a.csv:
            fresh = not os.path.exists(a.csv) or os.path.getsize(a.csv) == 0
            with open(a.csv, "a") as f:
                if fresh:
                    f.write(header + "\n")
                f.write("\n".join(rows) + "\n")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
