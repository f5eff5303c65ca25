"""Durable, all-or-nothing writes: one file (everything the image puts on the PVC, the CLI's reports) or a
set of folders (the overlays `nautilus new` writes). Standard library only: the CLI imports it too.

Files: a reader (or a pod restarted after preemption) sees the old file or the complete new one, never a
half-written one: write a temp file in the same folder, fsync it, rename it over the target, fsync the
folder so the rename itself survives a crash. A full or read-only volume leaves the old file as it was and
raises one UsageError naming the folder and the fix.

Folders: replace_folders builds every new folder beside its target (`.NAME.new-<token>`), fsyncs them, then
writes a journal (`.nautilus-replace`, the commit point) naming them. Applying the journal swaps each folder
in with one atomic exchange (renameat2 RENAME_EXCHANGE, so NAME never stops existing), parks what it
replaced as `.NAME.old-<token>`, then deletes the journal and the old folders. Every step can be repeated:
a folder already swapped is recognised by its inode (recorded in the journal). The next run finishes a
killed run's journal, so the folders of one command (an overlay and its .dev) appear together, and
removes the hidden leftovers of a run killed before its journal existed.
"""
import ctypes
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from . import inputs, volume
from .errors import UsageError

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


def write(path: Path, writer, durable: bool = True) -> None:
    """Call writer(binary_file) on a temp file beside path, then atomically replace path with it. durable=False
    skips the fsyncs: still all or nothing for readers, but a crash may leave the file empty or old (for a
    cache whose entries check themselves)."""
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
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if durable:
            fsync_dir(path.parent)
    except BaseException as e:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and (clear := volume.problem(e, path.parent)):
            raise clear from None
        raise


def write_text(path: Path, text: str) -> None:
    write(path, lambda f: f.write(text.encode()))


def write_files(folder: Path, contents: dict[str, bytes]) -> None:
    """The files of one output, together: each is written and fsynced as a temporary beside its target, the
    renames come last, so a failure before them leaves every old file as it was and no new one."""
    folder, temporaries = Path(folder), {}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in contents.items():
            fd, temporaries[name] = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for name in list(temporaries):
            os.replace(temporaries.pop(name), folder / name)
        fsync_dir(folder)
    except BaseException as e:
        for temporary in temporaries.values():
            Path(temporary).unlink(missing_ok=True)
        if isinstance(e, OSError) and (clear := volume.problem(e, folder)):
            raise clear from None
        raise


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Folders

JOURNAL = ".nautilus-replace"
LEFTOVER = re.compile(r"\..+\.(new|old)-[a-z0-9_]{8}")   # tempfile's 8-character names
TOKEN = re.compile(r"[a-z0-9_]{8}")
NAME = re.compile(r"(?!\.\.?$)[^/\0]+")                           # one folder name, not a path
MAX_JOURNAL_BYTES = 64 * 1024                            # a journal names a few folders
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


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
        fsync_dir(Path(folder))




def _swap_in(staged: Path, target: Path, old: Path) -> None:
    """target's content becomes staged's in one step, the replaced folder left at staged; where the kernel or
    file system cannot exchange, target moves to old first (a short window without it that the journal repairs)."""
    swap = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if swap is not None and swap(_AT_FDCWD, bytes(staged), _AT_FDCWD, bytes(target), _RENAME_EXCHANGE) == 0:
        return
    os.rename(target, old)
    os.rename(staged, target)


def _write_journal(parent: Path, entry: dict) -> None:
    temporary = parent / f"{JOURNAL}.tmp"
    with open(temporary, "w") as handle:
        json.dump(entry, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(temporary, parent / JOURNAL)
    fsync_dir(parent)


def _apply(parent: Path, journal: dict) -> None:
    """Swap in every staged folder and park every replaced one; safe to repeat after a kill."""
    token = journal["token"]
    for name, inode in journal["staged"].items():
        target, staged, old = parent / name, parent / f".{name}.new-{token}", parent / f".{name}.old-{token}"
        swapped = os.path.lexists(target) and os.lstat(target).st_ino == inode
        if not swapped and staged.exists():
            if os.path.lexists(target):
                _swap_in(staged, target, old)
            else:
                os.rename(staged, target)
        if staged.exists():  # what the exchange put there: the folder it replaced
            os.rename(staged, old)
    fsync_dir(parent)
    os.unlink(parent / JOURNAL)
    fsync_dir(parent)


def read_journal(journal: Path) -> dict:
    """A replacement journal as _write_journal wrote it: a token and, per folder name, the staged inode.
    A FIFO, a huge file or JSON of another shape is one UsageError (it is never applied)."""
    fix = f"check the folders in {journal.parent}, then delete {journal}"
    what = f"the interrupted replacement recorded in {journal}"
    entry = inputs.mapping(inputs.read_json(journal, what, MAX_JOURNAL_BYTES, fix=fix), what, fix)
    staged = entry.get("staged")
    if not (isinstance(entry.get("token"), str) and TOKEN.fullmatch(entry["token"]) and isinstance(staged, dict)
            and all(NAME.fullmatch(name) and type(inode) is int for name, inode in staged.items())):
        raise UsageError(f"cannot finish {what}: it is not a journal this tool wrote", fix)
    return entry


def recover(parent: Path) -> None:
    """Finish what a killed run committed to (its journal), then remove hidden leftovers of killed runs."""
    journal = parent / JOURNAL
    if os.path.lexists(journal):
        entry = read_journal(journal)
        try:
            _apply(parent, entry)
        except OSError as exc:
            raise UsageError(f"cannot finish the interrupted replacement recorded in {journal} ({exc})",
                             f"check the folders in {parent}, then delete {journal}") from None
    (parent / f"{JOURNAL}.tmp").unlink(missing_ok=True)
    for entry in os.scandir(parent):
        if LEFTOVER.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)


def replace_folders(parent: Path, writers: dict[str, Callable[[Path], None]]) -> None:
    """Each writer fills a fresh folder that then replaces parent/<name>.

    Every folder is written before any is swapped in, so a failing writer leaves parent as it was; a kill
    at any point leaves either the old folders or, once the next run has finished the journal, the new ones.
    """
    try:
        recover(parent)
        token = Path(tempfile.mkdtemp(prefix=f".{next(iter(writers))}.new-", dir=parent)).name[-8:]
    except OSError as exc:
        raise UsageError(f"cannot write in {parent} ({exc.strerror})", "pass a folder you can write to") from None
    staged = {name: parent / f".{name}.new-{token}" for name in writers}
    try:
        for name, write in writers.items():
            staged[name].mkdir(exist_ok=True)
            write(staged[name])
            _fsync_tree(staged[name])
        _write_journal(parent, {"token": token, "staged": {n: p.stat().st_ino for n, p in staged.items()}})
    except BaseException:
        for folder in staged.values():
            shutil.rmtree(folder, ignore_errors=True)
        (parent / f"{JOURNAL}.tmp").unlink(missing_ok=True)
        raise
    _apply(parent, read_journal(parent / JOURNAL))
    for name in writers:
        shutil.rmtree(parent / f".{name}.old-{token}", ignore_errors=True)
