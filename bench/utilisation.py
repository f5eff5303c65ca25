"""GPU utilisation of real training: trainer.train on one GPU for a few minutes, NVML sampled beside it.

    python3 bench/utilisation.py [--seconds 150] [--skip 30] [--batch 1] [--cpus 4] [--out results]

Makes a synthetic CycleGAN dataset (trainer.synthetic, 286x286, --count images a domain), publishes it
with trainer.prepare (shards, the trainer's default input), then runs `python -m trainer.train` with
the default config (AMP, channels_last, DataLoader workers from the CPUs) pinned to --cpus cores, as a
pod with that many cores per GPU. NVML's utilisation (the share of time a kernel was running) is
sampled every 0.25 s; the first --skip seconds (start-up, cuDNN autotuning) are left out. Then SIGTERM:
the trainer checkpoints and exits 143, as on a preempted pod. Target: above 90% (NRP's floor is 40%).
Also the CPU cores and memory the trainer's process tree used, and the trainer's own usage.json (its
cgroup: the whole machine's where the run has no container of its own): the step rate, main-process
cores and host memory per GPU that schemas/sizing.yaml estimates.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the repository first: `trainer` is the package
import torch  # noqa: E402

from bench.common import machine, report  # noqa: E402
from trainer.prepare import prepare  # noqa: E402
from trainer.prepare.source import Spec  # noqa: E402
from trainer.synthetic import make_dataset  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=150, help="training time, start-up included")
    p.add_argument("--skip", type=float, default=30, help="seconds of start-up left out of the average")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--count", type=int, default=500, help="images per domain; each epoch ends in a checkpoint and a sample grid")
    p.add_argument("--cpus", type=int, default=4)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    import pynvml  # nvidia-ml-py, a dependency of the trainer image

    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    work = Path(tempfile.mkdtemp(prefix="nautilus-util-"))
    make_dataset(work / "synthetic", size=286, count=args.count)
    prepare(Spec("synthetic", path=str(work / "synthetic")), work, threads=len(os.sched_getaffinity(0)), log=lambda _: None)
    config = work / "train.yaml"
    config.write_text(json.dumps({"run": "util", "dataset": {"name": "synthetic"},
                                  "train": {"batch_size": args.batch}, "log": {"every_steps": 200}}))
    cores = sorted(os.sched_getaffinity(0))[:args.cpus]
    before, began = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "trainer.train", "--config", str(config), "--root", str(work)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"), preexec_fn=lambda: os.sched_setaffinity(0, cores))
    start, samples = time.monotonic(), []
    while time.monotonic() - start < args.seconds and proc.poll() is None:
        if time.monotonic() - start >= args.skip:
            samples.append(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        time.sleep(0.25)
    proc.send_signal(signal.SIGTERM)
    log = proc.communicate(timeout=120)[0]
    wall, after = time.monotonic() - began, resource.getrusage(resource.RUSAGE_CHILDREN)
    # The trainer's process tree (its DataLoader workers are reaped by it, so they count): the CPU and
    # memory a pod of --cpus cores per GPU spends, the figures schemas/sizing.yaml estimates.
    tree_cores = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / wall
    usage_file = work / "runs" / "util" / "usage.json"
    used = json.loads(usage_file.read_text()) if usage_file.exists() else {}
    print(log[-3000:])
    shutil.rmtree(work, ignore_errors=True)
    if not samples:
        sys.exit(f"error: training ended before --skip seconds had passed (exit {proc.returncode})")
    progress = re.findall(r" ([0-9.]+) img/s .*\| gpu ([0-9]+)%", log)  # the trainer's own progress lines
    mean = statistics.mean(samples)
    seen = re.search(r"workers (\d+), cpus ([0-9.]+)", log)  # what the trainer itself saw of the pinning
    rows = [{"batch": args.batch, "cpus pinned": len(cores), "trainer's workers/cpus": "/".join(seen.groups()) if seen else "?",
             "NVML samples": len(samples), "mean util %": round(mean, 1),
             "min util %": min(samples),
             "trainer's own util % (median)": statistics.median(int(g) for _, g in progress) if progress else "n/a",
             "img/s (median of log lines)": round(statistics.median(float(r) for r, _ in progress), 1) if progress else "n/a",
             "trainer tree cores": round(tree_cores, 2),
             "largest process peak RSS MiB": round(after.ru_maxrss / 1024),
             "cgroup cores (usage.json)": (used.get("cpu") or {}).get("mean_cores", "n/a"),
             "cgroup memory peak MiB (usage.json)": round(((used.get("memory") or {}).get("peak_bytes") or 0) / 2**20) or "n/a"}]
    report("utilisation", machine(torch.device("cuda" if torch.cuda.is_available() else "cpu")), rows, args.out,
           [f"trainer.train defaults (AMP, channels_last, workers from {len(cores)} pinned cores), synthetic 286x286 shards, "
            f"{args.seconds:g} s, first {args.skip:g} s left out; exit {proc.returncode} after SIGTERM (143: checkpointed)",
            f"target GPU utilisation > 90%: {mean:.1f}% {'met' if mean > 90 else 'MISSED'}"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
