"""Atomic checkpoints in <run>/checkpoints: step_<N>.pt, the last K kept, the newest readable one loaded."""
import os
import re
import sys
import tempfile
from pathlib import Path

import torch

PATTERN = re.compile(r"^step_(\d+)\.pt$")


def atomic_write(path: Path, write) -> None:
    """Call write(file) on a temp file in the same folder, fsync, then rename over `path`.

    A reader (or a restarted pod) sees the old file or the complete new one, never a half-written one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def torch_save(obj, path: Path) -> None:
    atomic_write(path, lambda f: torch.save(obj, f))


def listing(folder: Path) -> list[Path]:
    """Checkpoints in `folder`, newest (highest step) first."""
    if not Path(folder).is_dir():
        return []
    found = [(int(m.group(1)), p) for p in Path(folder).iterdir() if (m := PATTERN.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def save(folder: Path, state: dict, step: int, keep: int) -> Path:
    path = Path(folder) / f"step_{step:09d}.pt"
    torch_save(state, path)
    for old in listing(folder)[keep:]:
        old.unlink(missing_ok=True)
    return path


REQUIRED = ("nets", "opt_G", "opt_D", "step", "epoch", "config")


def read(path: Path) -> dict:
    # weights_only: checkpoints live on a shared volume; never unpickle arbitrary objects from it.
    state = torch.load(path, map_location="cpu", weights_only=True)
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    return state


def load_latest(folder: Path, log=lambda msg: print(msg, file=sys.stderr, flush=True)):
    """(state, path) of the newest readable checkpoint, or (None, None) when there is none.

    A corrupt newest file (a pod killed by the node, a full disk) is reported and the previous one used;
    if checkpoints exist and none is readable, refuse rather than silently start over."""
    paths = listing(folder)
    for path in paths:
        try:
            return read(path), path
        except Exception as e:  # truncated zip, bad pickle, missing keys
            log(f"warning: checkpoint {path} is unreadable ({e.__class__.__name__}: {str(e)[:120]}); "
                f"trying the previous one")
    if paths:
        from .config import UsageError
        raise UsageError(f"no readable checkpoint in {folder} ({len(paths)} corrupt)",
                         "delete that folder to start the run over, or pick another run name")
    return None, None
