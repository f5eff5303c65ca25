"""The measured inputs of the default pod sizes (schemas/sizing.yaml), on this machine's CPU.

    .venv/bin/python bench/sizing.py [--mb 20] [--out results]

Measures, each the way the pod would spend it:
  - loader pairs/s per core: the trainer's input path (trainer.data.Unaligned over memory-mapped shards,
    DataLoader at batch 1, one process, one thread), as bench/loader.py does;
  - the training process's resident memory before its first step (Python, torch, torchvision,
    TensorBoard, the trainer, the full-size networks and Adam state built on the CPU);
  - one DataLoader worker's private memory (what a worker adds to the cgroup: the rest is shared with the
    training process or is the dataset's page cache) after it has served 300 pairs;
  - the data stage (python -m trainer.prepare) on generated photo-like JPEGs, one thread: peak resident
    memory and CPU seconds per image.
The step rate of a GPU and what CUDA adds to a process need a GPU: bench/gpu.sh measures them.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the repository first: `trainer` is the package
from bench.common import machine, median, report  # noqa: E402
from bench.data import generate  # noqa: E402
from bench.loader import datasets, pairs_per_second  # noqa: E402

MI = 2**20
# The training process up to its first step: everything it imports and builds on the host.
PROCESS = """
import os, torch, torchvision
from torch.utils.tensorboard import SummaryWriter
from trainer import train
from trainer.models import build
from trainer.step import optimizers
nets = build({"ngf": 64, "ndf": 64, "n_blocks": 9, "n_layers_d": 3})
optimizers(nets, 2e-4, 0.5)
print(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1])
"""


def private_kib(pid: int) -> int:
    """Pages only this process holds (Private_Clean + Private_Dirty): what it adds beside its parent."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
    return sum(int(fields[k].split()[0]) for k in ("Private_Clean", "Private_Dirty"))


def worker_private(dataset, pairs: int) -> int:
    """KiB private to one DataLoader worker after `pairs` pairs (workers forked, as the trainer's are)."""
    loader = iter(DataLoader(dataset, batch_size=1, sampler=[(0, i % len(dataset)) for i in range(pairs * 2)],
                             num_workers=1, persistent_workers=True))
    for _ in range(pairs):
        next(loader)
    pid = loader._workers[0].pid
    kib = private_kib(pid)
    del loader
    return kib


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/nautilus-bench-loader"), help="generated data, kept for the next run")
    p.add_argument("--mb", type=int, default=20, help="MB of JPEGs for the data stage (about 30 images per MB)")
    p.add_argument("--pairs", type=int, default=300)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    shards = datasets(args.work, 6)["shards"]
    loader_rate = median(pairs_per_second(shards, args.pairs, 0) for _ in range(args.repeats))
    process = median(int(subprocess.run([sys.executable, "-c", PROCESS], env=env, capture_output=True, text=True,
                                        check=True).stdout) for _ in range(args.repeats))
    worker = median(worker_private(shards, args.pairs) for _ in range(args.repeats))

    jpegs = args.work / f"jpegs-{args.mb}mb"
    generate(jpegs, args.mb)
    images = sum(1 for _ in jpegs.rglob("*.jpg"))
    with tempfile.TemporaryDirectory() as root:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "trainer.prepare", "--root", root, "--name", "bench", "--path", str(jpegs),
                        "--threads", "1"], env=env, check=True, capture_output=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    rows = [
        {"input": "loader_pairs_per_core", "value": round(loader_rate), "unit": "pairs/s", "how": "shards, 1 core, no workers, median"},
        {"input": "process_memory_cpu_side", "value": round(process / 1024), "unit": "MiB",
         "how": "VmRSS of the training process before its first step (full-size nets and Adam on the CPU)"},
        {"input": "worker_memory", "value": round(worker / 1024), "unit": "MiB", "how": f"a worker's private pages after {args.pairs} pairs"},
        {"input": "data_stage_peak_memory", "value": round(after.ru_maxrss / 1024), "unit": "MiB",
         "how": f"peak RSS of python -m trainer.prepare, {images} JPEGs, 1 thread"},
        {"input": "data_stage_cpu_per_image", "value": round(1000 * cpu / images, 2), "unit": "ms",
         "how": f"CPU seconds / image ({cpu:.1f} s CPU in {wall:.1f} s wall: {cpu / wall:.2f} cores busy)"},
    ]
    report("sizing", machine(torch.device("cpu")), rows, args.out,
           ["inputs of schemas/sizing.yaml; the GPU step rate and CUDA's host memory come from bench/gpu.sh"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
