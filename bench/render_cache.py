"""Cold and warm: `nautilus validate --all` and `nautilus report --all --base HEAD~1` on a lab's repository of
10, 50 and 200 overlays with one change, and the render cache's hit rate.

    PATH=$PWD/.tools/bin:$PATH .venv/bin/python bench/render_cache.py [COUNTS...]

Each count gets bench/report.py's lab (count overlays sharing one base, committed), where `validate --all`
and `report --all --base HEAD` run once to leave the cache as CI's review job keeps it from the target branch; then the usual pull request is committed
on top: the last overlay asks for 2 GPUs. Cold is an empty cache (what every run cost before the cache),
warm is the cache the target branch left, so only what the change reaches is rendered. The two alternate
ROUNDS times per command, each a fresh process; the table shows the best seconds. Renders counts what the
command renders (the report renders the overlays the change reaches a second time, at the base); hits are
the renders the cache answered (each miss stores one entry); checks answered, the overlays whose findings
it answered (policy/check_cache.py). Prints a Markdown table.
"""
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import change_last_overlay, git, lab, timed  # noqa: E402
from bench.validate import REPO  # noqa: E402

ROUNDS = 3
CACHE = Path(".cache/nautilus")
COMMANDS = {"validate --all": ("validate", "--all"), "report --all --base HEAD~1": ("report", "--all", "--base", "HEAD~1")}


def nautilus(root: Path, env: dict, *args: str) -> float:
    return timed(root, env, *args)[0]


def entries(root: Path) -> dict[str, int]:
    """Entries in the cache by kind: render- and check- (each miss stores one)."""
    return {kind: len(list((root / CACHE).glob(f"{kind}-*.entry"))) if (root / CACHE).is_dir() else 0
            for kind in ("render", "check")}


def reached(root: Path, env: dict) -> int:
    """Overlays the change since HEAD~1 reaches (render/changes.py): the report renders each again at the base."""
    proc = subprocess.run([sys.executable, "-c", "from generator.render.changes import changed_overlays as c; "
                           "print(len(c('HEAD~1')))"], capture_output=True, text=True, env=env, cwd=root, check=True)
    return int(proc.stdout)


def measure(count: int, env: dict) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="nautilus-bench-cache-") as tmp:
        root, primed = Path(tmp) / "lab", Path(tmp) / "primed"
        overlays = lab(root, count)
        nautilus(root, env, "validate", "--all")  # the target branch's run, as CI's review job makes it
        nautilus(root, env, "report", "--all", "--base", "HEAD")
        shutil.copytree(root / CACHE, primed)
        change_last_overlay(root, overlays)
        git(root, "commit", "-qam", "the last overlay asks for 2 GPUs")
        renders = {"validate --all": count, "report --all --base HEAD~1": count + reached(root, env)}
        rows = []
        for name, args in COMMANDS.items():
            best = {"cold": float("inf"), "warm": float("inf")}
            for _ in range(ROUNDS):
                for mode in best:
                    shutil.rmtree(root / ".cache", ignore_errors=True)
                    if mode == "warm":
                        shutil.copytree(primed, root / CACHE)
                    before = entries(root)
                    best[mode] = min(best[mode], nautilus(root, env, *args))
                    misses = {kind: count - before[kind] for kind, count in entries(root).items()}
            rows.append({"command": name, **best, "renders": renders[name], "hits": renders[name] - misses["render"],
                         "check hits": renders[name] - misses["check"]})
        return rows


def main(counts: list[int]) -> int:
    env = {**os.environ, "PATH": f"{REPO / '.tools/bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(REPO)}
    env.pop("NAUTILUS_RENDER_CACHE", None)
    print(f"Printed: date {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, cpus {len(os.sched_getaffinity(0))}, "
          f"python {platform.python_version()}, load_average {os.getloadavg()[0]:.1f}, best of {ROUNDS}.")
    print()
    print("| overlays | command | cold: s | warm: s | warm / cold | renders | warm hits | hit rate | checks answered |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for count in counts:
        for r in measure(count, env):
            print(f"| {count} | `{r['command']}` | {r['cold']:.2f} | {r['warm']:.2f} | {r['warm'] / r['cold']:.0%} "
                  f"| {r['renders']} | {r['hits']} | {r['hits'] / r['renders']:.1%} | {r['check hits']} |", flush=True)
    print(f"\nload_average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main([int(c) for c in sys.argv[1:]] or [10, 50, 200]))
