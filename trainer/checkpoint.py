"""Atomic checkpoints in <run>/checkpoints: step_<N>.pt, the last K kept, the newest readable one loaded."""
import re
import sys
from pathlib import Path

import torch

from . import atomic

PATTERN = re.compile(r"^step_(\d+)\.pt$")


def torch_save(obj, path: Path) -> None:
    atomic.write(path, lambda f: torch.save(obj, f))


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
