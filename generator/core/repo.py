"""The repository a command acts on: the one that holds the current directory, found as git finds its own.

A repository made from this template (a fork, a clone, or one made by `nautilus init`) holds base/ and
overlays/. Its schemas/ (NRP's numbers, the rule table, the train.yaml schema) are the ones checked
against, so a fork that updates policy.yaml is judged by its own numbers; a repository without schemas/
uses the copies this package carries. Nothing here depends on where the package is installed, except
those packaged copies.
"""
import os
import subprocess
from functools import cache
from pathlib import Path

from trainer.errors import UsageError

PACKAGE = Path(__file__).resolve().parent.parent  # generator/


def _packaged(name: str) -> Path:
    """A copy the package carries: inside it when installed from a wheel (pyproject.toml maps schemas/ and base/
    there), else the checkout's own folder (an editable install)."""
    inside = PACKAGE / name
    return inside if inside.is_dir() else PACKAGE.parent / name


PACKAGED_SCHEMAS = _packaged("schemas")
PACKAGED_BASE = _packaged("base")


def find(start: Path | None = None) -> Path | None:
    """The nearest folder at or above start (default: the current directory) holding base/ and overlays/,
    else the git top level; None outside both."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "base").is_dir() and (folder / "overlays").is_dir():
            return folder
    try:
        proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=here, capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None


def root(start: Path | None = None) -> Path:
    """The repository of the current directory; UsageError (exit 2) outside any."""
    found = find(start)
    if found is None:
        raise UsageError(f"{Path(start or Path.cwd())} is not inside a repository made from the template (no base/ and "
                         "overlays/ here or above, and no git repository)",
                         "cd into your clone of the template, or make one with `nautilus init DIR`")
    return found


def overlays(start: Path | None = None) -> Path:
    return root(start) / "overlays"


def base(start: Path | None = None) -> Path:
    """The repository's Kustomize bases; UsageError when it has none."""
    folder = root(start) / "base"
    if not folder.is_dir():
        raise UsageError(f"{folder.parent} has no base/ folder", f"write the bases into it with `nautilus init {folder.parent}`")
    return folder


def schemas() -> Path:
    """schemas/ of the repository of the current directory when it has one, else the package's copy."""
    return _schemas(os.getcwd())


@cache
def _schemas(cwd: str) -> Path:  # asked for per object checked: one look-up per working directory
    found = find(Path(cwd))
    own = found / "schemas" if found else None
    return own if own is not None and (own / "policy.yaml").is_file() else PACKAGED_SCHEMAS


def tools_bin() -> Path | None:
    """The repository's pinned tools (`make tools` writes them into .tools/bin), when it has them."""
    found = find()
    return found / ".tools" / "bin" if found and (found / ".tools" / "bin").is_dir() else None


def relative(path: Path) -> str:
    """path as printed: relative to the current directory when below it, else absolute."""
    relative_path = os.path.relpath(path)
    return str(path) if relative_path.startswith("..") else relative_path
