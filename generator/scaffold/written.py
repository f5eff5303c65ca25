"""What `nautilus new` wrote into each folder (a checksum file beside the files), so that `--force` never
throws away a user's edits unseen: edited or added files are listed and kept in a copy before a replacement."""
import hashlib
import shutil
import tempfile
import time
from pathlib import Path

from trainer import inputs
from trainer.errors import UsageError

RECORD = ".nautilus-written.sha256"  # sha256sum's format: `sha256sum -c .nautilus-written.sha256` checks by hand
RECORD_MAX = 2**20
DISCARDED = ".discarded"              # <output dir>/.discarded/<folder>-<UTC time>-<random>/, ignored by git


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and not p.is_symlink() and p.name != RECORD)


def _digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def record(folder: Path) -> None:
    """Write folder's record: one `<sha256>  <path>` line per file nautilus has just written there."""
    (folder / RECORD).write_text("".join(f"{_digest(folder / name)}  {name}\n" for name in _files(folder)))


def _recorded(folder: Path) -> dict[str, str]:
    """{path: sha256} as last written; {} when there is no record (every file then counts as edited)."""
    path = folder / RECORD
    if path.is_symlink():
        return {}
    try:
        lines = inputs.read_bytes(path, str(path), RECORD_MAX).decode("utf-8", "replace").splitlines()
    except UsageError:  # absent, not a regular file, or too large: no record
        return {}
    return {name: digest for digest, _, name in (line.partition("  ") for line in lines)}


def edits(folder: Path) -> list[str]:
    """The files of folder that nautilus did not write as they are now: changed since, or added by someone else."""
    recorded = _recorded(folder)
    return [name for name in _files(folder) if recorded.get(name) != _digest(folder / name)]


def keep_copy(folder: Path) -> Path:
    """A copy of folder in <its parent>/.discarded/, a folder git ignores (its own .gitignore); its path."""
    discarded = folder.parent / DISCARDED
    discarded.mkdir(exist_ok=True)
    if not (discarded / ".gitignore").exists():
        (discarded / ".gitignore").write_text("# copies of edited overlays that `nautilus new --force --discard-edits` replaced\n*\n")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    copy = Path(tempfile.mkdtemp(prefix=f"{folder.name}-{stamp}-", dir=discarded))
    shutil.copytree(folder, copy, symlinks=True, dirs_exist_ok=True)
    return copy
