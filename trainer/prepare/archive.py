"""Safe extraction of a downloaded dataset archive (zip or tar) and finding its CycleGAN layout.

Each entry is checked before its bytes are written: no absolute paths, no `..`, no links or device
files, and no more than max_bytes in all (counted while writing, so a lying header cannot get past).
Integrity comes from the formats themselves: zip CRC-32 per member, gzip/bz2/xz checks for tar.
"""
from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from trainer.errors import UsageError
from trainer.shards import CORRUPT

DEFAULT_MAX_BYTES = 64 << 30
IGNORED_TOP = {"__MACOSX"}


def extract(archive: Path, dest: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Extract a zip or tar archive into the (empty) folder dest."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                _extract_zip(zf, dest, max_bytes)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive, "r:*") as tf:
                extract_tar(tf, dest, max_bytes)
        else:
            raise UsageError(f"{archive.name} is neither a zip nor a tar archive", "point dataset.url at a .zip or .tar[.gz] archive")
    except CORRUPT as e:
        raise UsageError(f"archive {archive.name} is corrupt ({e})", "download it again or fix the source archive") from None


def _extract_zip(zf: zipfile.ZipFile, dest: Path, max_bytes: int) -> None:
    budget, folders = _Budget(max_bytes), _Folders()
    for info in zf.infolist():
        target = dest / _safe(info.filename)
        if (info.external_attr >> 16) & 0o170000 not in (0, 0o100000, 0o040000):  # S_IFMT: allow only regular/dir
            raise UsageError(f"archive entry {info.filename!r} is a link or special file", "use an archive of plain files")
        if info.is_dir():
            folders.make(target)
            continue
        budget.claim(info.file_size)
        folders.make(target.parent)
        with zf.open(info) as src, open(target, "wb") as out:  # reading to the end checks the CRC
            _copy(src, out, budget, info.file_size)


def extract_tar(tf: tarfile.TarFile, dest: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Extract an open tar (streaming modes too) into dest with the same checks as a zip."""
    budget, folders = _Budget(max_bytes), _Folders()
    for member in tf:
        target = dest / _safe(member.name)
        if member.isdir():
            folders.make(target)
        elif member.isfile():
            budget.claim(member.size)
            folders.make(target.parent)
            with tf.extractfile(member) as src, open(target, "wb") as out:
                _copy(src, out, budget, member.size)
        else:
            raise UsageError(f"archive entry {member.name!r} is a link or special file", "use an archive of plain files")


def find_layout(folder: Path) -> Path:
    """The folder holding trainA/ and trainB/: folder itself or its one top folder (the catalogue zips' <name>/)."""
    tops = sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in IGNORED_TOP)
    for candidate in (folder, *tops):
        if (candidate / "trainA").is_dir() and (candidate / "trainB").is_dir():
            return candidate
    found = ", ".join(p.name + "/" for p in sorted(folder.iterdir())) or "nothing"
    raise UsageError(f"no trainA/ and trainB/ folders in the dataset (found: {found})",
                    "a CycleGAN dataset needs trainA/ and trainB/ (testA/, testB/ optional), at the top or in one folder")


def _safe(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise UsageError(f"archive entry {name!r} points outside the extraction folder",
                        "refusing an unsafe (zip-slip) archive: use a trusted source")
    return path


class _Folders:
    """mkdir -p once per folder: thousands of repeated mkdir calls cost more than the files' contents."""

    def __init__(self):
        self.made: set[Path] = set()

    def make(self, folder: Path) -> None:
        if folder not in self.made:
            folder.mkdir(parents=True, exist_ok=True)
            self.made.add(folder)


class _Budget:
    """Bytes left before the archive counts as a decompression bomb."""

    def __init__(self, max_bytes: int):
        self.max_bytes, self.left = max_bytes, max_bytes

    def claim(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise UsageError(f"archive expands beyond {self.max_bytes} bytes",
                            "raise --max-extract-bytes if the dataset really is that big")


def _copy(src, out, budget: _Budget, declared: int) -> None:
    written = 0
    while block := src.read(1 << 20):
        written += len(block)
        if written > declared:  # the header understated the size: count what really arrives
            budget.claim(written - declared)
            declared = written
        out.write(block)
