"""Which overlays changed since the last applied commit (git, bounded); all of them when that commit is
unknown here or something they share (base/, schemas/) changed."""
from pathlib import Path

from . import pipeline

SHARED = ("base/", "schemas/")


def changed_overlays(root: Path, since: str, names: list[str]) -> list[str]:
    if not since:
        return names
    git = pipeline.find_tool("git")
    proc = pipeline.run([git, "-C", str(root), "diff", "--name-only", f"{since}..HEAD", "--"], 30, "git diff")
    if proc.returncode != 0:
        return names  # a shallow clone or a rewritten history: render everything
    paths = proc.stdout.splitlines()
    if any(p.startswith(SHARED) for p in paths):
        return names
    touched = {p.split("/")[1] for p in paths if p.startswith("overlays/") and p.count("/") >= 2}
    return [n for n in names if n in touched]


def head(root: Path) -> str:
    proc = pipeline.run([pipeline.find_tool("git"), "-C", str(root), "rev-parse", "HEAD"], 30, "git rev-parse")
    return proc.stdout.strip() if proc.returncode == 0 else ""
