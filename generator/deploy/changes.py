"""Which of the named overlays changed since the last applied commit: render/changes.py's answer (every file an
overlay is built from, base/ included), or all of them when that commit is unknown here."""
from pathlib import Path

from . import pipeline


def changed_overlays(root: Path, since: str, names: list[str]) -> list[str]:
    if not since:
        return names
    try:
        reached = {path.name for path in pipeline.overlays_changed_since(since, root)}
    except pipeline.UsageError:  # a shallow clone or a rewritten history: render everything
        return names
    return [name for name in names if name in reached]


def head(root: Path) -> str:
    proc = pipeline.run([pipeline.find_tool("git"), "-C", str(root), "rev-parse", "HEAD"], 30, "git rev-parse")
    return proc.stdout.strip() if proc.returncode == 0 else ""
