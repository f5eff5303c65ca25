"""Durable, all-or-nothing file writes for everything the image puts on the PVC.

A reader (or a pod restarted after preemption) sees the old file or the complete new one, never a
half-written one: write a temp file in the same folder, fsync it, rename it over the target, fsync the
folder so the rename itself survives a crash. A full or read-only volume leaves the old file as it was and
raises one UsageError naming the folder and the fix.
"""
import os
import tempfile
from pathlib import Path

from . import volume


class _Recorder:
    """The temp file as the writer sees it: remembers the OSError of a failed write, which torch.save
    would otherwise replace by a RuntimeError ("unexpected pos ...") that no longer says "disk full"."""

    def __init__(self, f):
        self.f, self.error = f, None

    def write(self, data):
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = self.error or e
            raise

    def __getattr__(self, name):
        return getattr(self.f, name)


def write(path: Path, writer) -> None:
    """Call writer(binary_file) on a temp file beside path, then atomically replace path with it."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            out = _Recorder(f)
            try:
                writer(out)
            except Exception:
                if out.error is None:
                    raise
                raise out.error from None
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException as e:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and (clear := volume.problem(e, path.parent)):
            raise clear from None
        raise


def write_text(path: Path, text: str) -> None:
    write(path, lambda f: f.write(text.encode()))


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
