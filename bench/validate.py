"""Time `nautilus validate` over 1, 10, 50 and 100 generated overlays (target: 100 in under 10 s on 2 cores).

    PATH=$PWD/.tools/bin:$PATH .venv/bin/python bench/validate.py [COUNTS...]

Each overlay is a copy of tests/validate/project/overlays/demo with its own name prefix, namespace and
train.yaml, sharing one base, rendered with the real kustomize and checked by one kubeconform process.
Prints one line per count: overlays, wall seconds, seconds per overlay, exit code.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROJECT = REPO / "tests/validate/project"


def make_overlays(root: Path, count: int) -> list[Path]:
    shutil.copytree(PROJECT / "base", root / "base")
    template = (PROJECT / "overlays/demo/kustomization.yaml").read_text()
    overlays = []
    for index in range(count):
        name = f"p{index:03d}"
        folder = root / "overlays" / name
        folder.mkdir(parents=True)
        (folder / "kustomization.yaml").write_text(template.replace("demo", name))
        (folder / "train.yaml").write_text(f"dataset:\n  name: horse2zebra\ntrain:\n  epochs: {index + 1}\n")
        overlays.append(folder)
    return overlays


def main(counts: list[int]) -> int:
    env = {**os.environ, "PATH": f"{REPO / '.tools/bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    print(f"cpus={os.cpu_count()}  python={sys.version.split()[0]}")
    print(f"{'overlays':>8} {'seconds':>8} {'s/overlay':>10} {'exit':>5}")
    worst = 0
    for count in counts:
        with tempfile.TemporaryDirectory(prefix="nautilus-bench-") as tmp:
            overlays = make_overlays(Path(tmp), count)
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", "from generator.cli import main; main()", "validate", *map(str, overlays)],
                                  capture_output=True, text=True, env=env, cwd=REPO)
            seconds = time.perf_counter() - start
        print(f"{count:>8} {seconds:>8.2f} {seconds / count:>10.3f} {proc.returncode:>5}")
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n", file=sys.stderr)
        worst = max(worst, proc.returncode)
    return worst


if __name__ == "__main__":
    sys.exit(main([int(c) for c in sys.argv[1:]] or [1, 10, 50, 100]))
