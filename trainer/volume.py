"""The folders the image writes to (the PVC, --output): checked before work starts, and the OS errors a user
can fix (full, read-only, not a folder) turned into one `error:` line that names the folder and the fix."""
import errno
import shutil
import tempfile
from pathlib import Path

from .errors import UsageError

FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}  # EDQUOT: CephFS quotas; EFBIG: a file-size limit
REFUSED = {errno.EROFS, errno.EACCES, errno.EPERM}
ENLARGE = "free space there or enlarge the volume (the PVC's storage request in the overlay), then re-run"


class Full(UsageError):
    """The volume has no room: the input was fine (a downloaded archive is worth keeping)."""


def writable_folder(path, flag: str) -> Path:
    """Create `path` if needed and prove a file can be written in it; UsageError naming `flag` otherwise."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path} is a file, not a folder", f"pass a folder for {flag}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):  # mkdir succeeds on an existing read-only folder; a write does not
            pass
    except OSError as e:
        raise problem(e, path, flag) from None
    return path


def problem(e: OSError, path, flag: str | None = None) -> UsageError | None:
    """The one-line error for an OSError at `path` a user can fix; None for anything else."""
    where = f"{flag} {path}" if flag else str(path) if path else "a folder this command writes to"
    if e.errno in FULL:
        return Full(f"no space left on the volume holding {where}" + (f" ({free(path)} free)" if path else ""), ENLARGE)
    if e.errno in REFUSED:
        return UsageError(f"cannot write in {where}: {e.strerror}", "mount it writable or choose a folder you can write to")
    if path and (e.errno in (errno.ENOTDIR, errno.EISDIR) or flag):
        return UsageError(f"cannot write in {where}: {e.strerror}", "pass a folder on a writable volume")
    return None


def free(path) -> str:
    """Free bytes of the volume holding path (its nearest existing parent), in MiB; '?' when unknown."""
    for folder in (Path(path), *Path(path).parents):
        try:
            return f"{shutil.disk_usage(folder).free / 2**20:.1f} MiB"
        except OSError:
            continue
    return "?"


def require_space(folder, needed: int, what: str) -> None:
    """Refuse before writing `needed` bytes into folder when its volume has less free."""
    have = shutil.disk_usage(folder).free
    if have < needed:
        raise Full(f"{what} needs {needed / 2**20:.1f} MiB but the volume holding {folder} has "
                         f"{have / 2**20:.1f} MiB free", ENLARGE)
