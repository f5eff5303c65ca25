"""What this container uses against what its pod asked for, measured the way NRP measures it.

NRP flags pods whose use leaves a band relative to their requests: CPU 20-200%, memory 20-150% (page
cache included), GPU utilisation at least 40%; pods asking for at most 1 CPU and 2Gi are exempt. A
background thread samples the container's cgroup (CPU time, memory with page cache; cgroup v2, v1
fallback) and NVML every few seconds (no GPU sync), logs a one-line summary at a fixed interval and at
the end, writes a JSON summary beside the run's outputs, and warns when a figure stays outside its band,
naming the overlay file and the value that brings it back.

The requests reach the container through the downward API (base/train/job.yaml, base/data/job.yaml):
NAUTILUS_CPU_REQUEST/LIMIT in millicores, NAUTILUS_MEMORY_REQUEST/LIMIT in bytes, NAUTILUS_PROJECT and
NAUTILUS_STAGE from the pod's labels. Torch-free: the data stage uses it too.
"""
from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import atomic, inputs
from .errors import UsageError

# NRP's bands, in percent of the request, mirrored from schemas/policy.yaml's `utilisation` (the image
# cannot read that file; tests/trainer/test_usage.py keeps the two equal).
BANDS = {"cpu": (20, 200), "memory": (20, 150)}
GPU_FLOOR = 40
EXEMPT_CPU, EXEMPT_MEMORY = 1.0, 2 * 2**30  # requests at or under both: outside NRP's bands altogether

SAMPLE_SECONDS = 5      # one cgroup read and one NVML query per GPU: cheap at this rate
SUSTAIN_SECONDS = 600   # a band counts as left when the last 10 minutes' average is outside it
REPORT_SECONDS = 300    # the log line and the JSON file; NAUTILUS_USAGE_EVERY overrides
MIN_EVERY, MAX_EVERY = 0.01, 7 * 86400  # NAUTILUS_USAGE_EVERY's range, seconds
MAX_DOWNWARD = 10**18   # NAUTILUS_*_REQUEST/LIMIT: millicores or bytes (an exabyte is past any node)
DOWNWARD_FIX = "leave the NAUTILUS_* variables to the overlay's downward API (resourceFieldRef), or unset them"
TARGET = 0.8            # a suggested request puts the measured use at 80% of it
GI = 2**30

# Where each container's size is set, by the container that samples; {project} is the overlay's name.
WHERE = {
    "train": "the train container of Job train in overlays/{project}/resources.yaml",
    "prepare": "the prepare init container of Job train in overlays/{project}/resources.yaml",
    "data": "the data container of Job data (base/data/job.yaml; change it with a patch in overlays/{project}/)",
}


@dataclass(frozen=True)
class Requests:
    """The pod's own requests and limits (None where unknown: not in a pod with the downward API)."""
    cpu: float | None = None            # cores
    memory: int | None = None           # bytes
    cpu_limit: float | None = None
    memory_limit: int | None = None
    project: str = ""
    stage: str = ""

    @classmethod
    def from_env(cls, env=os.environ) -> "Requests":
        def number(name):  # the downward API writes whole numbers: millicores (divisor 1m) and bytes; 0: no limit
            return inputs.env_int(name, 0, 0, MAX_DOWNWARD, env, DOWNWARD_FIX) or None

        def cpu(name):
            return None if number(name) is None else number(name) / 1000
        return cls(cpu("NAUTILUS_CPU_REQUEST"), number("NAUTILUS_MEMORY_REQUEST"),
                   cpu("NAUTILUS_CPU_LIMIT"), number("NAUTILUS_MEMORY_LIMIT"),
                   env.get("NAUTILUS_PROJECT", ""), env.get("NAUTILUS_STAGE", ""))

    def exempt(self) -> bool:
        return self.cpu is not None and self.memory is not None and self.cpu <= EXEMPT_CPU and self.memory <= EXEMPT_MEMORY


class Cgroup:
    """The container's CPU time and memory, from cgroup v2 files or the v1 controllers.

    Each controller's folder is the process's own cgroup (/proc/self/cgroup) under the mount when that
    exists, else the mount's root, which is the container's own cgroup under a private cgroup namespace."""

    def __init__(self, root: Path = Path("/sys/fs/cgroup"), membership: str | None = None):
        self.root = Path(root)
        if membership is None:
            try:
                membership = Path("/proc/self/cgroup").read_text()
            except OSError:
                membership = ""
        paths = {}
        for line in membership.splitlines():
            _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
            for name in controllers.split(",") if controllers else [""]:
                paths[name] = path.lstrip("/")
        self.version = 2 if (self.root / "cgroup.controllers").exists() else 1
        if self.version == 2:
            self.cpu_dir = self.memory_dir = self._own(self.root, paths.get("", ""))
        else:
            self.cpu_dir = self._v1("cpuacct", paths)
            self.memory_dir = self._v1("memory", paths)

    @staticmethod
    def _own(mount: Path, path: str) -> Path:
        own = mount / path
        return own if path and own.is_dir() else mount

    def _v1(self, controller: str, paths: dict) -> Path:
        mounts = [self.root / name for name in (controller, "cpu,cpuacct", "cpuacct,cpu") if (self.root / name).is_dir()]
        return self._own(mounts[0], paths.get(controller, "")) if mounts else self.root / controller

    def cpu_seconds(self) -> float | None:
        """CPU time used by every process of the cgroup since it began."""
        try:
            if self.version == 2:
                for line in (self.cpu_dir / "cpu.stat").read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "usage_usec":
                        return int(value) / 1e6
                return None
            return int((self.cpu_dir / "cpuacct.usage").read_text()) / 1e9
        except (OSError, ValueError):
            return None

    def memory(self) -> tuple[int | None, int | None]:
        """(now, peak) in bytes, page cache included; peak is None where the kernel keeps none."""
        names = ("memory.current", "memory.peak") if self.version == 2 else ("memory.usage_in_bytes", "memory.max_usage_in_bytes")
        return tuple(_read_int(self.memory_dir / name) for name in names)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def nvml_reader():
    """A function returning each visible GPU's utilisation in percent; None without NVML or GPUs."""
    try:
        import pynvml  # nvidia-ml-py, a dependency of the trainer image
        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
    except Exception:
        return None
    indices = visible_indices(os.environ.get("CUDA_VISIBLE_DEVICES"), count)
    handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in indices if i < count]
    if not handles:
        return None
    return lambda: [float(pynvml.nvmlDeviceGetUtilizationRates(h).gpu) for h in handles]


def visible_indices(visible: str | None, count: int):
    """The GPU indices CUDA_VISIBLE_DEVICES lists; every GPU when it is unset or lists UUIDs."""
    try:
        return [inputs.parse_int(i, "CUDA_VISIBLE_DEVICES", 0, count) for i in visible.split(",")] if visible else range(count)
    except UsageError:
        return range(count)


def gib(n: float) -> str:
    return f"{n / GI:.1f}GiB"


def duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def cores(value: float) -> str:
    """A CPU quantity as Kubernetes writes it: whole cores, else millicores."""
    return f"{value:g}" if value == int(value) else f"{math.floor(value * 1000)}m"


class Monitor:
    """Samples in a background thread; sample() is the whole of one tick, so tests drive it directly."""

    def __init__(self, container: str, requests: Requests | None = None, *, cgroup: Cgroup | None = None,
                 gpus="nvml", gpu_floor: float = GPU_FLOOR, path: Path | None = None, log=None,
                 every: float | None = None, sustain: float = SUSTAIN_SECONDS, interval: float = SAMPLE_SECONDS,
                 clock=time.monotonic):
        self.container, self.path, self.clock = container, path, clock
        self.log = log or (lambda line: print(line, flush=True))  # kubectl logs: not held in a buffer
        self.requests = requests if requests is not None else Requests.from_env()
        self.cgroup = cgroup if cgroup is not None else Cgroup()
        self.gpus = nvml_reader() if gpus == "nvml" else gpus
        self.gpu_floor, self.sustain, self.interval = gpu_floor, sustain, interval
        self.every = every if every is not None else inputs.env_float("NAUTILUS_USAGE_EVERY", REPORT_SECONDS, MIN_EVERY, MAX_EVERY)
        self.window: deque = deque()          # (time, cpu seconds, memory now, mean GPU %) over `sustain`
        self.first = self.last_report = None  # samples that open the run and the current report interval
        self.memory_sum = self.memory_samples = self.samples = 0
        self.memory_peak = 0
        self.gpu_sum, self.gpu_samples, self.gpu_count = 0.0, 0, 0
        self.gpu_recent: list[float] = []
        self.outside: dict[str, str] = {}     # band -> the warning while it stays outside
        self.warnings: list[str] = []
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.RLock()  # write() reads the summary while sample() holds it

    # --- sampling ---------------------------------------------------------------------------------------
    def sample(self) -> None:
        now, cpu = self.clock(), self.cgroup.cpu_seconds()
        memory, peak = self.cgroup.memory()
        gpu = None
        if self.gpus is not None:
            try:
                values = self.gpus()
                self.gpu_count = len(values)
                gpu = sum(values) / len(values) if values else None
            except Exception:  # a GPU that fell off the bus must not end the run: stop asking
                self.gpus = None
        with self._lock:
            point = (now, cpu, memory, gpu)
            self.first = self.first or point
            self.last_report = self.last_report or point
            self.window.append(point)
            self.samples += 1
            while len(self.window) > 2 and self.window[1][0] <= now - self.sustain:
                self.window.popleft()
            if memory is not None:
                self.memory_sum, self.memory_samples = self.memory_sum + memory, self.memory_samples + 1
                self.memory_peak = max(self.memory_peak, memory, peak or 0)
            if gpu is not None:
                self.gpu_sum, self.gpu_samples = self.gpu_sum + gpu, self.gpu_samples + 1
                self.gpu_recent.append(gpu)
            self._check_bands()
            if now - self.last_report[0] >= self.every:
                self.log(self.line(self.last_report, point, "last " + duration(now - self.last_report[0])))
                self.last_report = point
                self.write()

    def recent_gpu(self) -> float | None:
        """Mean GPU utilisation since the last call (the trainer's progress line); None without GPUs."""
        with self._lock:
            values, self.gpu_recent = self.gpu_recent, []
        return sum(values) / len(values) if values else None

    def start(self) -> "Monitor":
        self.sample()
        self._thread = threading.Thread(target=self._run, name="usage", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> dict:
        """Last sample, the whole run's line in the log, the JSON file; returns the summary."""
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.sample()
        self.log(self.line(self.first, self.window[-1], "whole run " + duration(self.window[-1][0] - self.first[0])))
        self.write()
        return self.summary()

    # --- figures ------------------------------------------------------------------------------------------
    @staticmethod
    def _cpu_between(a, b) -> float | None:
        if a[1] is None or b[1] is None or b[0] <= a[0]:
            return None
        return (b[1] - a[1]) / (b[0] - a[0])

    def _percent(self, value, request) -> float | None:
        return None if value is None or not request else 100 * value / request

    def line(self, a, b, span: str) -> str:
        """One line: CPU over [a, b], memory now and peak, GPU, each against its request and band."""
        r = self.requests
        parts = []
        cpu = self._cpu_between(a, b)
        if cpu is not None:
            parts.append(f"cpu {cpu:.2f} cores" + (f" = {self._percent(cpu, r.cpu):.0f}% of {cores(r.cpu)}"
                                                    f" (band {BANDS['cpu'][0]}-{BANDS['cpu'][1]}%)" if r.cpu else ""))
        if b[2] is not None:
            parts.append(f"memory {gib(b[2])}" + (f" = {self._percent(b[2], r.memory):.0f}% of {gib(r.memory)}"
                                                  f" (band {BANDS['memory'][0]}-{BANDS['memory'][1]}%)" if r.memory else "")
                         + f", peak {gib(self.memory_peak)}")
        if self.gpu_samples:
            parts.append(f"gpu {self.gpu_sum / self.gpu_samples:.0f}% mean of {self.gpu_count} (floor {self.gpu_floor:g}%)")
        if r.cpu is None and r.memory is None:
            parts.append("requests unknown (NAUTILUS_CPU_REQUEST unset: not in a pod of this template)")
        elif r.exempt():
            parts.append(f"exempt from NRP's bands (requests <= {EXEMPT_CPU:g} CPU and {gib(EXEMPT_MEMORY)})")
        return f"usage {self.container} ({span}): " + " | ".join(parts or ["no cgroup or GPU readings"])

    def summary(self) -> dict:
        with self._lock:
            first, last, r = self.first, self.window[-1], self.requests
            cpu = self._cpu_between(first, last)
            memory_mean = self.memory_sum / self.memory_samples if self.memory_samples else None
            gpu_mean = self.gpu_sum / self.gpu_samples if self.gpu_samples else None
            return {
                "container": self.container, "stage": r.stage, "project": r.project, "started": self.started,
                "seconds": round(last[0] - first[0], 1), "samples": self.samples,
                "cgroup": {"version": self.cgroup.version, "cpu": str(self.cgroup.cpu_dir), "memory": str(self.cgroup.memory_dir)},
                "requests": {"cpu": r.cpu, "memory": r.memory, "cpu_limit": r.cpu_limit, "memory_limit": r.memory_limit},
                "exempt": r.exempt(),
                "cpu": {"mean_cores": _round(cpu, 2), "percent_of_request": _round(self._percent(cpu, r.cpu)),
                        "band_percent": list(BANDS["cpu"])},
                "memory": {"mean_bytes": _round(memory_mean, 0), "peak_bytes": self.memory_peak or None,
                           "mean_percent_of_request": _round(self._percent(memory_mean, r.memory)),
                           "peak_percent_of_request": _round(self._percent(self.memory_peak or None, r.memory)),
                           "band_percent": list(BANDS["memory"])},
                "gpu": None if gpu_mean is None else {"count": self.gpu_count, "mean_percent": _round(gpu_mean),
                                                      "floor_percent": self.gpu_floor},
                "warnings": list(self.warnings),
            }

    def write(self, path: Path | None = None) -> None:
        """The JSON summary, atomically, to path (default: the monitor's own)."""
        path = path or self.path
        if path is not None:
            try:
                atomic.write_text(path, json.dumps(self.summary(), indent=1) + "\n")
            except (OSError, UsageError) as e:  # a full or failing volume must not end a run over a report
                self.log(f"warning: usage: cannot write {path}: {e}")

    # --- bands ----------------------------------------------------------------------------------------------
    def _check_bands(self) -> None:
        a, b = self.window[0], self.window[-1]
        r = self.requests
        if b[0] - a[0] < self.sustain or r.exempt():
            return
        memory = [p[2] for p in self.window if p[2] is not None]
        gpu = [p[3] for p in self.window if p[3] is not None]
        figures = {"cpu": self._percent(self._cpu_between(a, b), r.cpu),
                   "memory": self._percent(sum(memory) / len(memory) if memory else None, r.memory),
                   "gpu": sum(gpu) / len(gpu) if gpu else None}
        for band, value in figures.items():
            message = None if value is None else self._advice(band, value, b[0] - a[0])
            if message and band not in self.outside:
                self.warnings.append(message)
                self.log(message)
            if message:
                self.outside[band] = message
            else:
                self.outside.pop(band, None)

    def _advice(self, band: str, value: float, span: float) -> str | None:
        """The warning for a figure outside its band (which band, by how much, the fix); None inside."""
        r, over = self.requests, f"averaged over the last {duration(span)}"
        where = WHERE.get(self.container, "this container").format(project=r.project or "<project>")
        if band == "gpu":
            if value >= self.gpu_floor:
                return None
            return (f"warning: usage: GPU utilisation {value:.0f}% {over} on {self.gpu_count} GPU(s) is under NRP's "
                    f"{self.gpu_floor:g}% floor by {self.gpu_floor - value:.0f} points; raise train.batch_size (or "
                    f"train.workers) in overlays/{r.project or '<project>'}/train.yaml, or ask for fewer GPUs in {where}")
        low, high = BANDS[band]
        if low <= value <= high:
            return None
        side, by = ("under", low - value) if value < low else ("over", value - high)
        verb = "lower" if value < low else "raise"
        head = f"warning: usage: {band.upper() if band == 'cpu' else band} use "
        if band == "cpu":
            used = r.cpu * value / 100
            new = math.ceil(used / TARGET) if used / TARGET >= 1 else max(0.1, math.ceil(used / TARGET * 10) / 10)
            told, limit = cores(new), r.cpu_limit and cores(r.cpu_limit / r.cpu * new)
            head += f"{used:.2f} cores {over} is {value:.0f}% of the {cores(r.cpu)}-core request"
        else:  # sized from the peak, so that the suggestion never runs out of memory
            new = max(1, math.ceil(max(self.memory_peak, r.memory * value / 100) / TARGET / GI))
            told, limit = f"{new}Gi", r.memory_limit and f"{math.floor(r.memory_limit / r.memory * new * 1024)}Mi"
            head += f"{gib(r.memory * value / 100)} {over} is {value:.0f}% of the {gib(r.memory)} request"
            if verb == "lower" and new * GI >= r.memory:
                return (f"{head}, {side} NRP's {low}-{high}% band by {by:.0f} points, but its peak of {gib(self.memory_peak)} "
                        f"needs `memory` of {where} as it is: lower the peak (fewer train.workers) before the request")
        return (f"{head}, {side} NRP's {low}-{high}% band by {by:.0f} points; {verb} `{band}` of {where} to {told}"
                + (f" (and its limit to {limit})" if limit else ""))


def _round(value, digits=1):
    return None if value is None else round(value, digits) if digits else int(value)
