"""Time `nautilus report --all --base HEAD` on a lab's repository of 10, 50 and 200 overlays.

    PATH=$PWD/.tools/bin:$PATH .venv/bin/python bench/report.py [COUNTS...]

Each count gets two fresh git repositories of generated overlays (bench/validate.py's, sharing one base),
committed, then changed:
- one overlay changed: the last one alphabetically asks for 2 GPUs instead of 1 (the usual pull request;
  only that overlay is rendered at the base, the others reuse their current render);
- base changed: the shared base gets a new label, so every overlay is rendered on both sides (what every
  pull request cost before renders were reused).
`nautilus validate --all` on the first (one render and check of every overlay) is the floor the report
cannot go below. The report runs as ci.yml runs it (`--max-bytes 60000 --full FILE`). The three commands
alternate in each of ROUNDS rounds, with the render cache off (bench/render_cache.py times it); the table
shows each one's best seconds, the comment's size and the full report's size. Prints a Markdown table.
"""
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.validate import REPO, make_overlays  # noqa: E402

ROUNDS = 3
GPU_PATCH = """patches:
  - target: {kind: Job, name: train}
    patch: |-
      - op: replace
        path: /spec/template/spec/containers/0/resources/requests/nvidia.com~1gpu
        value: "2"
      - op: replace
        path: /spec/template/spec/containers/0/resources/limits/nvidia.com~1gpu
        value: "2"
"""


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args], cwd=root,
                   check=True, capture_output=True)


def lab(root: Path, count: int) -> list[Path]:
    """A committed repository of count overlays; returns them in alphabetical order."""
    overlays = make_overlays(root, count)
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", f"{count} overlays")
    return overlays


def change_last_overlay(root: Path, overlays: list[Path]) -> None:
    kustomization = overlays[-1] / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + GPU_PATCH)


def change_base(root: Path, overlays: list[Path]) -> None:
    job = root / "base/job.yaml"
    job.write_text(job.read_text().replace("nautilus.io/stage: train\n", "nautilus.io/stage: train\n    team: vision\n", 1))


def timed(root: Path, env: dict, *args: str) -> tuple[float, str]:
    """(seconds, stdout) of one `nautilus ARGS` process in root; SystemExit when it fails."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", "from generator.cli import main; main()", *args],
                          capture_output=True, text=True, env=env, cwd=root)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"nautilus {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return seconds, proc.stdout


def nautilus(root: Path, env: dict, *args: str) -> float:
    seconds, comment = timed(root, env, *args)
    (root / "comment.md.tmp").write_text(comment)
    return seconds


REPORT = ("report", "--all", "--base", "HEAD", "--max-bytes", "60000", "--full", "full.md.tmp")


def measure(count: int, env: dict) -> dict:
    """Best seconds of ROUNDS per mode (the modes alternate within each round) and the report's sizes."""
    with tempfile.TemporaryDirectory(prefix="nautilus-bench-report-") as one, \
         tempfile.TemporaryDirectory(prefix="nautilus-bench-report-") as every:
        one, every = Path(one), Path(every)
        change_last_overlay(one, lab(one, count))
        change_base(every, lab(every, count))
        modes = {"validate": (one, ("validate", "--all")), "one": (one, REPORT), "base": (every, REPORT)}
        best = {mode: float("inf") for mode in modes}
        for _ in range(ROUNDS):
            for mode, (root, args) in modes.items():
                best[mode] = min(best[mode], nautilus(root, env, *args))
        nautilus(one, env, *REPORT)
        return {**best, "comment": (one / "comment.md.tmp").stat().st_size, "full": (one / "full.md.tmp").stat().st_size}


def main(counts: list[int]) -> int:
    env = {**os.environ, "PATH": f"{REPO / '.tools/bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(REPO), "NAUTILUS_RENDER_CACHE": "off"}  # every round renders: bench/render_cache.py times the cache
    print(f"Printed: date {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, cpus {os.cpu_count()}, "
          f"python {platform.python_version()}, load_average {os.getloadavg()[0]:.1f}, best of {ROUNDS}.")
    print()
    print("| overlays | report, one overlay changed: s | report, base changed (every overlay rendered twice): s "
          "| validate --all: s | comment bytes | full report bytes |")
    print("| --- | --- | --- | --- | --- | --- |")
    for count in counts:
        m = measure(count, env)
        print(f"| {count} | {m['one']:.2f} | {m['base']:.2f} | {m['validate']:.2f} | {m['comment']} | {m['full']} |", flush=True)
    print(f"\nload_average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main([int(c) for c in sys.argv[1:]] or [10, 50, 200]))
