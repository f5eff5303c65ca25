"""Publishing on a filesystem shared by pods on different nodes (CephFS): a lock, atomic writes, LATEST.

The lock is a file created with O_CREAT|O_EXCL, which CephFS makes exclusive across clients. Its holder
rewrites it every few seconds; a waiter declares it stale when its content stays unchanged for
`stale_after` seconds of the waiter's own clock (no comparison of clocks between nodes), or at once when
the holder was a dead process on this same host. Even if two preparers ever both built, publication is
one rename of a complete folder plus one atomic replace of LATEST: readers never see a mixed version.
"""
from __future__ import annotations

import os
import re
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from trainer import atomic, inputs, volume
from trainer.shards import LATEST

MAX_LOCK_BYTES = 4096  # a lock holds one line: host, pid, heartbeat

class Busy(Exception):
    """The lock has a live holder and the caller chose not to wait for it."""


class Lock:
    """wait_for_live=False: raise Busy as soon as the holder's heartbeat shows it is alive, instead of waiting."""

    def __init__(self, path: Path, *, stale_after: float = 120.0, poll: float = 1.0, log=print, wait_for_live: bool = True):
        self.path, self.stale_after, self.poll, self.log = Path(path), stale_after, poll, log
        self.wait_for_live = wait_for_live
        self.fd: int | None = None
        self.stop = threading.Event()

    def __enter__(self) -> "Lock":
        seen, since, told = None, time.monotonic(), False
        while True:
            try:
                self.fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
                break
            except FileExistsError:
                pass
            content = _read(self.path)
            if content is None:  # released between our create and our read: try again now
                continue
            if content != seen:
                if seen is not None and not self.wait_for_live:
                    raise Busy(content.strip())
                seen, since = content, time.monotonic()
            elif (time.monotonic() - since > self.stale_after or _dead_here(content)):
                self.log(f"prepare: breaking a stale lock ({content.strip()})")
                _remove_if_same(self.path, content)
                continue
            if not told and content:
                self.log(f"prepare: waiting for another preparer ({content.strip()})")
                told = True
            time.sleep(self.poll)
        try:
            self._beat(0)
        except OSError as e:
            if e.errno not in volume.FULL:
                self.__exit__()
                raise
            # A full volume (perhaps filled by a dead preparer's build, which the holder is about to remove):
            # hold the lock empty for now; the heartbeat writes it once there is room.
        threading.Thread(target=self._heartbeat, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        try:
            if os.stat(self.path).st_ino == os.fstat(self.fd).st_ino:  # still ours: never remove a successor's lock
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.close(self.fd)

    def _heartbeat(self) -> None:
        beat = 0
        while not self.stop.wait(self.stale_after / 6):
            beat += 1
            try:
                self._beat(beat)
            except OSError:  # a full volume: the work fails with its own error; a missed beat is harmless
                pass

    def _beat(self, beat: int) -> None:
        os.pwrite(self.fd, f"{socket.gethostname()} {os.getpid()} {beat:012d}\n".encode(), 0)
        os.fsync(self.fd)


def _read(path: Path) -> str | None:
    """A lock's content (host, pid, beat), None once it is gone; a FIFO or a huge file there is one UsageError."""
    return inputs.read_if_present(path, f"lock {path}", MAX_LOCK_BYTES, "delete it when no preparer is running")


def _dead_here(content: str) -> bool:
    host, pid, *_ = content.split() + ["", ""]
    if host != socket.gethostname() or not re.fullmatch(r"[0-9]{1,10}", pid):
        return False
    try:
        os.kill(int(pid), 0)
        return False
    except ProcessLookupError:
        return True
    except PermissionError:
        return False


def _remove_if_same(path: Path, content: str) -> None:
    """Move the stale lock aside (one waiter wins the rename), then drop it unless it was already replaced."""
    aside = path.with_name(f"{path.name}.stale-{uuid.uuid4().hex}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    if _read(aside) != content:  # a new holder took it between our read and the rename: give it back
        try:
            os.link(aside, path)
        except FileExistsError:
            pass
    os.unlink(aside)


def new_version_name(folder: Path) -> str:
    """A UTC timestamp, suffixed when a version of the same second exists."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    name, n = stamp, 1
    while (folder / name).exists():
        n += 1
        name = f"{stamp}-{n}"
    return name


def publish(build: Path, folder: Path, version: str) -> Path:
    """Rename the complete private build folder into place, then point LATEST at it."""
    atomic.fsync_dir(build)
    target = folder / version
    build.rename(target)
    atomic.fsync_dir(folder)
    atomic.write_text(folder / LATEST, version + "\n")
    return target
