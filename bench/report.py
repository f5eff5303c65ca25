"""Time `nautilus report --all --base HEAD` on a lab's repository of 10, 50 and 200 overlays.

    PATH=$PWD/.tools/bin:$PATH .venv/bin/python bench/report.py [COUNTS...]

Each count gets a fresh git repository of generated overlays (bench/validate.py's, sharing one base) with
one commit; then two changes are timed, each from that commit:
- one overlay changed: the last one alphabetically asks for 2 GPUs instead of 1 (the usual pull request;
  only that overlay is rendered at the base, the others reuse their current render);
- base changed: the shared base gets a new label, so every overlay is rendered on both sides.
Each command runs `--max-bytes 60000` (the comment ci.yml posts); the table shows the seconds (best of
ROUNDS), the comment's size and the full report's size. Prints a Markdown table.
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


def timed(root: Path, env: dict) -> tuple[float, int, int]:
    """(best seconds of ROUNDS, comment bytes, full report bytes)."""
    best, comment, full = float("inf"), 0, 0
    for _ in range(ROUNDS):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", "from generator.cli import main; main()", "report", "--all",
                               "--base", "HEAD", "--max-bytes", "60000", "--full", str(root / "full.md.tmp")],
                              capture_output=True, text=True, env=env, cwd=root)
        best = min(best, time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"nautilus report failed ({proc.returncode}): {proc.stderr[-2000:]}")
        comment, full = len(proc.stdout.encode()), (root / "full.md.tmp").stat().st_size
    return best, comment, full


def main(counts: list[int]) -> int:
    env = {**os.environ, "PATH": f"{REPO / '.tools/bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(REPO)}
    print(f"Printed: date {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, cpus {os.cpu_count()}, "
          f"python {platform.python_version()}, load_average {os.getloadavg()[0]:.1f}, best of {ROUNDS}.")
    print()
    print("| overlays | one overlay changed: s | base changed (all rendered twice): s | comment bytes | full report bytes |")
    print("| --- | --- | --- | --- | --- |")
    for count in counts:
        figures = {}
        for name, change in (("one", change_last_overlay), ("base", change_base)):
            with tempfile.TemporaryDirectory(prefix="nautilus-bench-report-") as tmp:
                root = Path(tmp)
                change(root, lab(root, count))
                figures[name] = timed(root, env)
        (one, comment, full), (base, _, _) = figures["one"], figures["base"]
        print(f"| {count} | {one:.2f} | {base:.2f} | {comment} | {full} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main([int(c) for c in sys.argv[1:]] or [10, 50, 200]))
