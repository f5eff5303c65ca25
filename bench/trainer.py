"""Trainer step throughput and peak memory: the reference's step (fp32, eager) against the trainer's modes.

    .venv/bin/python bench/trainer.py                      # CPU: full-size networks at 64x64, batch 1
    python3 bench/trainer.py --size 256 --batch 1 8 --out results   # GPU (bench/gpu.sh runs this)

Every mode starts from the same weights and trains on the same fixed batch (the data path is
bench/loader.py's job). Modes: baseline = the reference's optimize_parameters (bench/common.py), fp32 =
the trainer's step as it runs on a CPU, then AMP, AMP + channels_last, AMP + channels_last +
torch.compile. After a warm-up (compilation, cuDNN autotuning), blocks of --steps steps are timed for
each mode in turn, --repeats rounds, and the median block gives images/s (A/B pairs per second, the
unit of the trainer's log). Peak memory (GPU only) is the mode's resident state (weights, gradients,
Adam, pool) plus the most its step allocates above it. Also checks whether channels_last gives the same
gradients as the default layout at batch 1 (on CPU with torch 2.9.1 it does not; the trainer therefore
uses channels_last on GPUs only).
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository first: `trainer` is the package
from bench.common import FULL, MODES, interleaved, machine, make_step, median, report, synchronize  # noqa: E402
from trainer.models import ResnetGenerator, build  # noqa: E402



def channels_last_error(device: torch.device, size: int = 32) -> float:
    """Largest gradient difference (input and weights) between channels_last and contiguous at batch 1,
    relative to the largest gradient; fp32 without TF32 so only the layout differs."""
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    net, x = ResnetGenerator(16, 2).to(device), torch.randn(1, 3, size, size, device=device)
    grads = []
    for fmt in (torch.contiguous_format, torch.channels_last):
        n = copy.deepcopy(net).to(memory_format=fmt)
        xi = x.clone().contiguous(memory_format=fmt).requires_grad_()
        n(xi).square().mean().backward()
        grads.append([xi.grad] + [p.grad for name, p in n.named_parameters() if name.endswith("weight")])
    torch.backends.cudnn.allow_tf32 = tf32
    return max(((a - b).abs().max() / a.abs().max()).item() for a, b in zip(*grads))


def measure(modes: list[str], batch: int, size: int, device: torch.device, steps: int, repeats: int, warmup: int) -> list[dict]:
    torch._dynamo.reset()  # a fresh compile per batch size: no recompilation with dynamic shapes
    g = torch.Generator().manual_seed(1)
    real_A, real_B = (torch.rand(batch, 3, size, size, generator=g).mul(2).sub(1).to(device) for _ in "AB")
    torch.manual_seed(0)
    init = build(FULL)
    resident, runs = {}, {}
    for mode in modes:
        before = torch.cuda.memory_allocated(device) if device.type == "cuda" else 0
        step, _ = make_step(mode, FULL, device, nets=init)
        fmt = torch.channels_last if MODES[mode][1] else torch.contiguous_format
        a, b = real_A.contiguous(memory_format=fmt), real_B.contiguous(memory_format=fmt)
        for _ in range(warmup):
            step(a, b)
        synchronize(device)
        if device.type == "cuda":
            resident[mode] = torch.cuda.memory_allocated(device) - before
        runs[mode] = (lambda s=step, a=a, b=b: [s(a, b) for _ in range(steps)])
    peak = dict.fromkeys(modes, 0)

    def timed(mode):  # the step block, with the peak memory it reaches above what was allocated before it
        def run():
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
                base = torch.cuda.memory_allocated(device)
            runs[mode]()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
                peak[mode] = max(peak[mode], resident[mode] + torch.cuda.max_memory_allocated(device) - base)
        return run

    times = interleaved({m: timed(m) for m in modes}, repeats, lambda: synchronize(device))
    rate = {m: batch * steps / median(t) for m, t in times.items()}
    rows = []
    for m in modes:
        spread = (max(times[m]) - min(times[m])) / median(times[m])
        row = {"mode": m, "batch": batch, "size": size, "img/s": round(rate[m], 3),
               "ms/step": round(1000 * median(times[m]) / steps, 1), "spread %": round(100 * spread)}
        if "baseline" in rate:
            row["vs baseline"] = round(rate[m] / rate["baseline"], 3)
        row["peak MiB"] = round(peak[m] / 2**20) if device.type == "cuda" else "n/a"
        rows.append(row)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--size", type=int, help="image side (default 256 on a GPU, 64 on a CPU)")
    p.add_argument("--batch", type=int, nargs="+", default=[1])
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    p.add_argument("--steps", type=int, help="steps per timed block (default 20 on a GPU, 2 on a CPU)")
    p.add_argument("--repeats", type=int, default=5, help="rounds of blocks; the median block is reported")
    p.add_argument("--warmup", type=int, help="untimed steps per mode first (default 10 on a GPU, 2 on a CPU)")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads (default 1: on a small machine shared with other work, OpenMP threads that wait "
                        "on a descheduled sibling make steps several times slower and the figures noise)")
    p.add_argument("--out", type=Path, help="also write trainer.json and trainer.md here")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    size, steps, warmup = args.size or (256 if gpu else 64), args.steps or (20 if gpu else 2), args.warmup or (10 if gpu else 2)
    if not gpu:
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True  # as the reference (BaseModel, default preprocess) and the trainer
    info = machine(device)
    error = channels_last_error(device)
    same = error < 1e-3
    cl_note = (f"channels_last vs contiguous gradients at batch 1 ({device.type}, fp32): max relative difference "
               f"{error:.1e} -> {'match' if same else 'DIFFER (channels_last gives wrong gradients here)'}")
    print(cl_note, flush=True)
    rows = []
    for batch in args.batch:
        rows += measure(args.modes, batch, size, device, steps, args.repeats, warmup)
        report("trainer", info, rows, args.out, summary(rows, args, size, steps, warmup, gpu, cl_note))
    return 0


def summary(rows, args, size, steps, warmup, gpu, cl_note) -> list[str]:
    notes = [cl_note, f"networks: reference ResNet-9 generator and 70x70 PatchGAN (ngf=ndf=64), {size}x{size}; "
                      f"{args.repeats} interleaved rounds of {steps} steps after {warmup} warm-up steps per mode; "
                      f"AMP = {'bf16' if not gpu or torch.cuda.is_bf16_supported() else 'fp16'}"]
    targets, spread = [], {(r["mode"], r["batch"]): r["spread %"] / 100 for r in rows}
    for r in rows:
        if r["mode"] == "amp" and gpu:
            targets.append(f"target GPU AMP >= 2x baseline at batch {r['batch']}: {r['vs baseline']}x "
                           f"{'met' if r['vs baseline'] >= 2 else 'MISSED'}")
        if r["mode"] == "fp32" and not gpu:  # the trainer's CPU default; equal work, so equal within the spread
            noise = max(spread[("fp32", r["batch"])], spread[("baseline", r["batch"])])
            verdict = "met" if r["vs baseline"] >= 1 else f"met within the spread ({noise:.0%})" if r["vs baseline"] >= 1 - noise else "MISSED"
            targets.append(f"target CPU trainer step (fp32, its CPU default) no slower than baseline at batch {r['batch']}: "
                           f"{r['vs baseline']}x {verdict}")
    return notes + targets


if __name__ == "__main__":
    sys.exit(main())
