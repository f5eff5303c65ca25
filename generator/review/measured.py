"""`nautilus report --usage FILE`: what a run used (the trainer's usage.json, copied from the volume)
beside what its pod asked for then and what the overlay asks for now, so that a pull request that
resizes a project shows why."""
from pathlib import Path

from generator.core import quantity
from generator.core.schemas import policy
from trainer import inputs
from trainer.errors import UsageError

MAX_BYTES = 1_000_000  # a usage.json is about 1 KB; anything far larger is not one
MAX_FIGURE = 1e18      # bytes, cores, seconds, percent: an exabyte or more is not a measurement
FIGURES = (("requests", "cpu"), ("requests", "memory"), ("cpu", "mean_cores"), ("memory", "mean_bytes"),
           ("memory", "peak_bytes"), ("gpu", "mean_percent"), (None, "seconds"))
FIX = "pass the usage.json a run wrote (kubectl cp <project>-results:/data/runs/<run>/usage.json usage.json)"
GI = 2**30
WORKLOAD = {"train": "train", "prepare": "train", "data": "data"}  # container -> the Job it runs in


def load(path: Path) -> dict:
    """One usage.json, checked enough to tabulate: an object, its figures numbers that are finite and not
    negative; UsageError otherwise."""
    what = f"--usage {path}"
    data = inputs.mapping(inputs.read_json(path, what, MAX_BYTES, fix=FIX), what, FIX)
    if not all(isinstance(data.get(k), dict) for k in ("requests", "cpu", "memory")):
        raise UsageError(f"{what} is not a usage summary (no requests, cpu and memory)", FIX)
    if not isinstance(data.get("gpu") or {}, dict) or not isinstance(data.get("warnings") or [], list):
        raise UsageError(f"{what} is not a usage summary (gpu is not an object or warnings not a list)", FIX)
    for section, key in FIGURES:
        value = (data if section is None else data.get(section) or {}).get(key)
        if value is not None:
            inputs.number(value, f"{what}: {section}.{key}", 0, MAX_FIGURE, fix=FIX)
    for key in ("project", "container"):
        if not isinstance(data.get(key) or "", str):
            raise UsageError(f"{what}: {key} is not a string", FIX)
    return data


def _now(rows_by_label: dict, summary: dict) -> tuple[float | None, float | None]:
    """The overlay's current (cpu cores, memory bytes) request for the run's pod, when the report has it."""
    project, job = summary.get("project") or "", WORKLOAD.get(summary.get("container"), "")
    for label, rows in rows_by_label.items():
        for row in rows:
            if row.key == ("Job", f"{project}-{job}") and Path(label).name == project:
                cpu, memory = (row.cells[k].split(" / ")[0] for k in ("cpu", "memory"))
                return (float(quantity.parse(cpu)) if cpu != "-" else None,
                        float(quantity.parse(memory)) if memory != "-" else None)
    return None, None


def _share(used, request) -> str:
    return f"{100 * used / request:.0f}%" if used is not None and request else "-"


def entries(paths: list[Path], rows_by_label: dict) -> list[dict]:
    """One entry per file: the run's use, its requests then, the overlay's requests now, shares of each."""
    out = []
    for path in paths:
        s = load(path)
        then = s["requests"]
        cpu_used, memory_mean, memory_peak = s["cpu"].get("mean_cores"), s["memory"].get("mean_bytes"), s["memory"].get("peak_bytes")
        cpu_now, memory_now = _now(rows_by_label, s)
        out.append({"file": str(path), "project": s.get("project") or "", "container": s.get("container") or "",
                    "seconds": s.get("seconds"), "cpu_used": cpu_used, "memory_mean": memory_mean, "memory_peak": memory_peak,
                    "gpu": (s.get("gpu") or {}).get("mean_percent"), "request_then": {"cpu": then.get("cpu"), "memory": then.get("memory")},
                    "request_now": {"cpu": cpu_now, "memory": memory_now}, "warnings": len(s.get("warnings") or [])})
    return out


def _cores(value) -> str:
    return "-" if value is None else f"{value:g}"


def _gib(value) -> str:
    return "-" if value is None else f"{value / GI:.1f}Gi"


def markdown(found: list[dict]) -> str:
    """The section the report appends: measured use, and its share of the requests then and now."""
    if not found:
        return ""
    bands = policy()["utilisation"]
    cpu_band, memory_band = bands["cpu_percent"], bands["memory_percent"]
    out = ["### Measured use (`--usage`)", "",
           f"NRP's bands: CPU {cpu_band[0]}-{cpu_band[1]}% of the request, memory {memory_band[0]}-{memory_band[1]}% "
           f"(page cache included), GPU at least {bands['gpu_min_percent']}%. Shares: of the run's request → of the "
           "overlay's request now.", "",
           "| project | container | ran | CPU used | CPU request | CPU share | memory mean / peak | memory request | "
           "memory share (mean) | GPU | warnings |", "|" + " --- |" * 11]
    for e in found:
        then, now = e["request_then"], e["request_now"]

        def pair(fmt, key):
            same = now[key] is None or now[key] == then[key]
            return fmt(then[key]) if same else f"{fmt(then[key])} → {fmt(now[key])}"

        def shares(used, key):
            first = _share(used, then[key])
            return first if now[key] is None or now[key] == then[key] else f"{first} → {_share(used, now[key])}"
        ran = "-" if e["seconds"] is None else f"{e['seconds'] / 3600:.1f} h"
        out.append("| " + " | ".join([
            e["project"] or "-", e["container"] or "-", ran, _cores(e["cpu_used"] and round(e["cpu_used"], 2)),
            pair(_cores, "cpu"), shares(e["cpu_used"], "cpu"), f"{_gib(e['memory_mean'])} / {_gib(e['memory_peak'])}",
            pair(_gib, "memory"), shares(e["memory_mean"], "memory"),
            "-" if e["gpu"] is None else f"{e['gpu']:.0f}%", str(e["warnings"])]) + " |")
    return "\n".join(out + [""]) + "\n"
