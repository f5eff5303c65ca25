"""Durable, all-or-nothing file writes for everything the image puts on the PVC.

A reader (or a pod restarted after preemption) sees the old file or the complete new one, never a
half-written one: write a temp file in the same folder, fsync it, rename it over the target, fsync the
folder so the rename itself survives a crash.
"""
import os
import tempfile
from pathlib import Path


def write(path: Path, writer) -> None:
    """Call writer(binary_file) on a temp file beside path, then atomically replace path with it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_text(path: Path, text: str) -> None:
    write(path, lambda f: f.write(text.encode()))


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
