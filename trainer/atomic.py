"""Durable, all-or-nothing writes: one file (everything the image puts on the PVC, the CLI's reports) or a
set of folders (the overlays `nautilus new` writes). Standard library only: the CLI imports it too.

Files: a reader (or a pod restarted after preemption) sees the old file or the complete new one, never a
half-written one: write a temp file in the same folder, fsync it, rename it over the target, fsync the
folder so the rename itself survives a crash. A full or read-only volume leaves the old file as it was and
raises one UsageError naming the folder and the fix.

Folders: replace_folders refuses a target that exists and is not a folder (a file, a link, a FIFO), then
builds every new folder in a staging folder of its own beside the targets, `.nautilus-tmp-<random>/new/NAME`
(a reserved prefix: no user's folder is mistaken for it), whose marker `.nautilus-staged` holding <random>
is written first. It fsyncs them, then writes a journal (`.nautilus-replace`, the commit point) naming the
staging folder. Applying the journal swaps each folder in with one atomic exchange (renameat2
RENAME_EXCHANGE, so NAME never stops existing; what it replaced lands in the staging folder), deletes the
journal, then the staging folder, its marker last. Every step can be repeated: a folder already swapped is
recognised by its inode (recorded in the journal). The next run finishes a killed run's journal, so the
folders of one command (an overlay and its .dev) appear together, and removes the staging folders of runs
killed before their journal existed: only folders of the reserved name holding their marker (or nothing).
"""
import contextlib
import ctypes
import json
import os
import re
import shutil
import stat
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
PREFIX = ".nautilus-tmp-"                       # reserved: a run's staging folder, .nautilus-tmp-<random>
MARKER = ".nautilus-staged"                     # written first into a staging folder: its own random part
TOKEN = re.compile(r"[a-z0-9_]{8}")              # tempfile's 8-character names
NAME = re.compile(r"(?!\.\.?$)[^/\0]+")          # one folder name, not a path
MAX_JOURNAL_BYTES = 64 * 1024                   # a journal names a few folders
MAX_MARKER_BYTES = 64                           # a marker holds one token
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2
_KINDS = ((stat.S_ISLNK, "symbolic link"), (stat.S_ISREG, "file"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
          (stat.S_ISCHR, "device"), (stat.S_ISBLK, "device"))


def check_parent(parent: Path) -> None:
    if not parent.exists():
        raise UsageError(f"{parent} does not exist", "create it or pass an existing folder")
    if not parent.is_dir():
        raise UsageError(f"{parent} is not a folder", "pass a folder")


def check_targets(parent: Path, names) -> None:
    """Each parent/<name> that exists is a real folder: a file, a link or a FIFO there is not ours to replace."""
    for name in names:
        try:
            mode = os.lstat(parent / name).st_mode
        except FileNotFoundError:
            continue
        kind = next((word for test, word in _KINDS if test(mode)), None)
        if kind is not None:
            raise UsageError(f"{parent / name} is a {kind}, not a folder",
                             "move it out of the way (or delete it), then run the command again")


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


def _staging(parent: Path, folder: str) -> tuple[Path, Path]:
    """Where a run stages its new folders and parks the ones they replace: inside its own staging folder."""
    return parent / folder / "new", parent / folder / "old"


def _apply(parent: Path, journal: dict) -> None:
    """Swap in every staged folder, then remove the run's staging folder; safe to repeat after a kill."""
    new, old = _staging(parent, journal["folder"])
    for name, inode in journal["staged"].items():
        target, staged = parent / name, new / name
        swapped = os.path.lexists(target) and os.lstat(target).st_ino == inode
        if not swapped and os.path.lexists(staged):
            if os.path.lexists(target):
                _swap_in(staged, target, old / name)
            else:
                os.rename(staged, target)
    fsync_dir(parent)
    os.unlink(parent / JOURNAL)
    fsync_dir(parent)
    _remove_staging(parent / journal["folder"])


def read_journal(journal: Path) -> dict:
    """A replacement journal as _write_journal wrote it: the run's staging folder and, per folder name, the
    staged inode. A FIFO, a huge file or JSON of another shape is one UsageError (it is never applied)."""
    fix = f"check the folders in {journal.parent}, then delete {journal}"
    what = f"the interrupted replacement recorded in {journal}"
    entry = inputs.mapping(inputs.read_json(journal, what, MAX_JOURNAL_BYTES, fix=fix), what, fix)
    folder, staged = entry.get("folder"), entry.get("staged")
    if not (isinstance(folder, str) and folder.startswith(PREFIX) and TOKEN.fullmatch(folder[len(PREFIX):])
            and isinstance(staged, dict)
            and all(NAME.fullmatch(name) and type(inode) is int for name, inode in staged.items())):
        raise UsageError(f"cannot finish {what}: it is not a journal this tool wrote", fix)
    return entry


def _marked(folder: Path) -> bool:
    """folder is a staging folder of ours: its marker holds its own random part, or it holds nothing but a
    marker (a run killed while writing it) or nothing at all (killed before)."""
    try:
        if set(os.listdir(folder)) <= {MARKER}:
            return True
        marker = inputs.read_bytes(folder / MARKER, f"{folder / MARKER}", MAX_MARKER_BYTES)
    except (OSError, UsageError):
        return False
    return marker == folder.name[len(PREFIX):].encode()


def _remove_staging(folder: Path) -> None:
    """Remove a staging folder, its marker last, so a kill midway leaves it marked (or empty) for the next run;
    what cannot be removed now is removed by a later run."""
    for part in _staging(folder.parent, folder.name):
        shutil.rmtree(part, ignore_errors=True)
    with contextlib.suppress(OSError):
        if set(os.listdir(folder)) <= {MARKER}:
            (folder / MARKER).unlink(missing_ok=True)
            os.rmdir(folder)


def recover(parent: Path) -> None:
    """Finish what a killed run committed to (its journal), then remove the staging folders of killed runs:
    only folders of the reserved name that hold their marker (or nothing)."""
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
        if (entry.name.startswith(PREFIX) and TOKEN.fullmatch(entry.name[len(PREFIX):])
                and entry.is_dir(follow_symlinks=False) and _marked(Path(entry.path))):
            _remove_staging(Path(entry.path))


def _new_staging(parent: Path) -> Path:
    """A fresh staging folder of the reserved name, its marker written and fsynced before anything else."""
    folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
    with open(folder / MARKER, "x") as handle:
        handle.write(folder.name[len(PREFIX):])
        handle.flush()
        os.fsync(handle.fileno())
    fsync_dir(folder)
    for part in _staging(parent, folder.name):
        part.mkdir()
    return folder


def replace_folders(parent: Path, writers: dict[str, Callable[[Path], None]]) -> None:
    """Each writer fills a fresh folder that then replaces parent/<name> (refused where that is not a folder).

    Every folder is written before any is swapped in, so a failing writer leaves parent as it was; a kill
    at any point leaves either the old folders or, once the next run has finished the journal, the new ones.
    """
    check_targets(parent, writers)
    try:
        recover(parent)
        folder = _new_staging(parent)
    except OSError as exc:
        raise UsageError(f"cannot write in {parent} ({exc.strerror})", "pass a folder you can write to") from None
    new, _ = _staging(parent, folder.name)
    staged = {name: new / name for name in writers}
    try:
        for name, write in writers.items():
            staged[name].mkdir()
            write(staged[name])
            _fsync_tree(staged[name])
        fsync_dir(new)
        _write_journal(parent, {"folder": folder.name, "staged": {n: p.stat().st_ino for n, p in staged.items()}})
    except BaseException:
        _remove_staging(folder)
        (parent / f"{JOURNAL}.tmp").unlink(missing_ok=True)
        raise
    _apply(parent, read_journal(parent / JOURNAL))
