"""Training loader against the training step: does the trainer ever wait on data?

    .venv/bin/python bench/loader.py [--step-json results/trainer.json] [--cpus 4] [--out results]

Feeds the trainer's own input path (trainer.data.Unaligned: an A image, a random B partner, random
crops and flips, tensors; DataLoader at batch 1) from a prepared dataset (trainer.shards, memory-mapped,
as training reads it) and, for comparison, from the JPEG folder it was prepared from (decode and resize
per sample, what the reference does). Rates are A/B pairs per second, the unit of the trainer's log.
Per core: one process, one thread, no workers. With --cpus N: the trainer's layout on an N-core pod,
N - 1 DataLoader workers pinned to N cores (measured when the machine has N cores, else projected as
N - 1 times the per-core rate). With --step-json (bench/trainer.py --out's file) each step rate is set
beside the loader's rate: the loader keeps up when its rate is at least the step's.
The JPEGs come from bench/data.py's generator (photo-like 256x256, about 33 KB each), prepared at 286.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository first: `trainer` is the package
from bench.common import interleaved, machine, median, report  # noqa: E402
from bench.data import generate  # noqa: E402
from trainer.data import ImageFolder, Unaligned, open_splits  # noqa: E402
from trainer.prepare import prepare  # noqa: E402
from trainer.prepare.source import Spec  # noqa: E402

LOAD, CROP = 286, 256  # the reference's load and crop sizes


def pairs_per_second(dataset, pairs: int, workers: int) -> float:
    """Pairs/s through a DataLoader as the trainer builds it (batch 1), worker start-up included."""
    n = len(dataset)
    keys = [(i // n, i % n) for i in range(pairs)]  # successive epochs' positions: any length, no repeats
    start = time.perf_counter()
    for _ in DataLoader(dataset, batch_size=1, sampler=keys, num_workers=workers):
        pass
    return pairs / (time.perf_counter() - start)


def datasets(work: Path, megabytes: int) -> dict:
    src, root = work / "jpegs", work / f"pvc-{megabytes}mb"  # generate() rewrites src when --mb changes
    generate(src, megabytes)
    prepare(Spec("bench", path=str(src), load_size=LOAD), root, threads=len(os.sched_getaffinity(0)), log=lambda _: None)  # no-op when done
    shards = open_splits({"dataset": {"name": "bench", "load_size": LOAD}}, root)
    # a root with nothing published: the trainer then decodes dataset.path's files per sample
    jpegs = open_splits({"dataset": {"name": "bench", "path": str(src), "load_size": LOAD}}, work / "unprepared")
    assert isinstance(jpegs["trainA"], ImageFolder), "the JPEG path must decode per sample"
    return {"shards": Unaligned(shards["trainA"], shards["trainB"], CROP, True, 0),
            "jpeg": Unaligned(jpegs["trainA"], jpegs["trainB"], CROP, True, 0)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/nautilus-bench-loader"), help="generated data, kept for the next run")
    p.add_argument("--mb", type=int, default=6, help="MB of JPEGs to generate (about 30 images per MB)")
    p.add_argument("--pairs", type=int, default=300, help="pairs per timed run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cpus", type=int, default=4, help="the pod size to check (NRP: few cores per GPU)")
    p.add_argument("--step-json", type=Path, help="bench/trainer.py's trainer.json: step rates to compare with")
    p.add_argument("--out", type=Path, help="also write loader.json and loader.md here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    data = datasets(args.work, args.mb)
    info = machine(torch.device("cpu"))
    per_core = {k: median(args.pairs / t for t in ts) for k, ts in interleaved(
        {k: (lambda d=d: pairs_per_second(d, args.pairs, 0)) for k, d in data.items()}, args.repeats).items()}
    workers = args.cpus - 1  # the trainer's rule: one core for the training process, the rest load
    cores = sorted(os.sched_getaffinity(0))
    rows = [{"path": k, "layout": "1 core, no workers", "pairs/s": round(v, 1)} for k, v in per_core.items()]
    if len(cores) >= args.cpus:
        os.sched_setaffinity(0, cores[:args.cpus])  # the workers inherit it: a pod of N cores
        rate = median(pairs_per_second(data["shards"], args.pairs * workers, workers) for _ in range(args.repeats))
        rows.append({"path": "shards", "layout": f"{args.cpus} cores, {workers} workers (measured)", "pairs/s": round(rate, 1)})
        os.sched_setaffinity(0, cores)
    else:
        rate = per_core["shards"] * workers
        rows.append({"path": "shards", "layout": f"{args.cpus} cores, {workers} workers (projected: {workers} x per core; "
                                                 f"this machine has {len(cores)})", "pairs/s": round(rate, 1)})
    notes = [f"shards vs JPEG per core: {per_core['shards'] / per_core['jpeg']:.1f}x; "
             f"{args.repeats} interleaved runs of {args.pairs} pairs, median"]
    if args.step_json:
        for r in json.loads(args.step_json.read_text())["rows"]:
            if r["size"] == CROP:
                notes.append(f"step {r['mode']} batch {r['batch']}: {r['img/s']:.1f} pairs/s vs loader {rate:.0f} pairs/s "
                             f"on {args.cpus} cores -> {'keeps up' if rate >= r['img/s'] else 'TRAINER WAITS'} "
                             f"({rate / r['img/s']:.1f}x headroom)")
            else:
                notes.append(f"step {r['mode']} batch {r['batch']} at {r['size']}x{r['size']}: {r['img/s']:.2f} pairs/s "
                             f"(not {CROP}x{CROP}; loader {rate:.0f} pairs/s at {CROP}x{CROP})")
    report("loader", info, rows, args.out, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
