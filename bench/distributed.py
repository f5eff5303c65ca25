"""Distributed overhead: the trainer's DDP step in 1 and in 2 processes under real torchrun.

    .venv/bin/python bench/distributed.py [--size 64] [--steps 3] [--repeats 2] [--out results]

Each launch is `python -m torch.distributed.run --standalone --nproc-per-node=N` of this file with
--worker: trainer.train.setup_distributed (gloo on CPU, NCCL on GPUs), the trainer's Step wrapped in
DDP as training wraps it (fp32 on CPU, the full-size networks at --size), each rank on its own batch.
After a warm-up step, a block of --steps steps is timed; the slowest rank's time counts. Launches of 1
and 2 processes alternate, --repeats times, and the median is reported: per-process throughput, total
throughput and scaling efficiency = per-process throughput at 2 / at 1 (1.0: no overhead). One thread
per process, so 2 processes need 2 free cores; on a shared machine the figure includes contention.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the repository first: `trainer` is the package
from bench.common import FULL, machine, make_step, median, report  # noqa: E402



def worker(size: int, steps: int, mode: str) -> None:
    import torch.distributed as dist
    from trainer.train import setup_distributed

    rank, world, _, device, _ = setup_distributed()
    step, _ = make_step(mode, FULL, device, ddp=world > 1)
    g = torch.Generator().manual_seed(rank)  # each rank its own batch, as DistributedSampler gives it
    a, b = (torch.rand(1, 3, size, size, generator=g).mul(2).sub(1).to(device) for _ in "AB")
    step(a, b)  # warm-up: DDP buckets, allocator, cuDNN
    if world > 1:
        dist.barrier()
    start = time.perf_counter()
    for _ in range(steps):
        step(a, b)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = torch.tensor([time.perf_counter() - start])
    if world > 1:
        dist.all_reduce(seconds, op=dist.ReduceOp.MAX)
        dist.destroy_process_group()
    if rank == 0:
        print("RESULT " + json.dumps({"world": world, "seconds": seconds.item(), "steps": steps}), flush=True)


def launch(nproc: int, args) -> float:
    """Seconds of the timed block in one torchrun launch of nproc processes."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    if not args.gpus:
        env["CUDA_VISIBLE_DEVICES"] = ""  # gloo on CPUs even on a GPU machine
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", __file__,
           "--worker", "--size", str(args.size), "--steps", str(args.steps), "--mode", args.mode]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode or not lines:
        sys.exit(f"error: torchrun with {nproc} processes failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[0][7:])["seconds"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--mode", default="fp32", help="a bench/common.py mode other than baseline (fp32 on CPU)")
    p.add_argument("--gpus", action="store_true", help="one GPU per process, NCCL (needs 2 GPUs)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help="also write distributed.json and distributed.md here")
    args = p.parse_args(argv)
    if args.worker:
        worker(args.size, args.steps, args.mode)
        return 0
    info = machine(torch.device("cuda" if args.gpus else "cpu")) | {"threads": "1 per process", "backend": "nccl" if args.gpus else "gloo"}
    times = {1: [], 2: []}
    for _ in range(args.repeats):  # alternate, so load changes hit both alike
        for nproc in times:
            times[nproc].append(launch(nproc, args))
    per_process = {n: args.steps / median(t) for n, t in times.items()}
    rows = [{"processes": n, "pairs/s per process": round(per_process[n], 3), "pairs/s total": round(n * per_process[n], 3),
             "s/step": round(median(times[n]) / args.steps, 2)} for n in times]
    eff = per_process[2] / per_process[1]
    report("distributed", info, rows, args.out,
           [f"scaling efficiency 2 vs 1 process: {eff:.2f} (per-process throughput ratio; total speed-up {2 * eff:.2f}x)",
            f"{args.mode}, full-size networks at {args.size}x{args.size}, batch 1 per process, "
            f"{args.repeats} alternating launches of {args.steps} timed steps each, median"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
