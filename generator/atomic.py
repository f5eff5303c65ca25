"""Folders written whole or not at all: built in a temporary folder beside the target, fsynced, renamed in."""
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from .errors import UsageError


def check_parent(parent: Path) -> None:
    if not parent.exists():
        raise UsageError(f"{parent} does not exist", "create it or pass an existing folder")
    if not parent.is_dir():
        raise UsageError(f"{parent} is not a folder", "pass a folder")


def _fsync_tree(root: Path) -> None:
    for folder, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(folder, name), "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(Path(folder))


def _fsync_dir(folder: Path) -> None:
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def replace_folders(parent: Path, writers: dict[str, Callable[[Path], None]]) -> None:
    """Each writer fills a fresh folder that then replaces parent/<name>.

    Every folder is written before any is renamed, so a failing writer leaves parent as it was.
    """
    staged: dict[str, Path] = {}
    try:
        for name, write in writers.items():
            try:
                staged[name] = Path(tempfile.mkdtemp(prefix=f".{name}.new-", dir=parent))
            except OSError as exc:
                raise UsageError(f"cannot write in {parent} ({exc.strerror})", "pass a writable --output-dir") from exc
            write(staged[name])
            _fsync_tree(staged[name])
        for name in writers:
            target = parent / name
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{name}.old-", dir=parent))
                os.rename(target, old / name)
                shutil.rmtree(old)
            os.rename(staged.pop(name), target)
        _fsync_dir(parent)
    finally:
        for folder in staged.values():
            shutil.rmtree(folder, ignore_errors=True)
