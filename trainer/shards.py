"""Reading a published dataset: what the trainer consumes from the data stage.

A version folder <root>/datasets/<name>/<UTC timestamp>/ holds manifest.json, one shard per split
(shards/<split>.npy: N x load_size x load_size x 3 uint8, a plain .npy so numpy memory-maps it)
and the packed archive of the same files. <root>/datasets/<name>/LATEST names the current version.
The archive's format (SUFFIXES, CORRUPT) and unpack() live here, on the reader's side; trainer.prepare
writes what this reads and imports them from here (never the other way round).

Training reads the shards memory-mapped straight from the PVC by default: bench/data.py measured it
faster than unpacking the archive to local scratch first (first epoch of 1,520 images at 286 px: 0.3-0.5 s
mmap from a cold page cache vs 1.9-2.4 s unpack + read; later epochs are served from the page cache either
way). `stage()` unpacks to scratch for volumes where remote reads are slow. A shard is a read-only view:
copy a sample (np.array) before changing it, and open splits inside DataLoader workers (or fork them):
pickling a memmap copies its data.
"""
from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import zstandard

from trainer import inputs
from trainer.errors import UsageError

MANIFEST = "manifest.json"
LATEST = "LATEST"
SPLITS = ("trainA", "trainB", "testA", "testB")
SUFFIXES = {"zstd": ".tar.zst", "gzip": ".tar.gz"}  # the packed archive's name ends with its format's
BUFFER = 1 << 20
MAX_LATEST_BYTES = 256            # LATEST holds one version name
MAX_MANIFEST_BYTES = 16 * 2**20   # a manifest lists every file of a version: ~100 bytes each
REPUBLISH = "re-run trainer.prepare to republish"
# What the zip, tar and zlib readers raise on a damaged archive (here and in trainer.prepare.archive)
CORRUPT = (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, NotImplementedError)


def dataset_dir(root: Path, name: str) -> Path:
    return Path(root) / "datasets" / name


def resolve(root: Path, name: str, *, hashes: bool = False) -> Path:
    """The published version folder LATEST names, after checking it against its manifest."""
    folder = dataset_dir(root, name)
    if not os.path.lexists(folder / LATEST):
        raise UsageError(f"dataset {name!r} is not prepared under {folder}",
                        "run the data Job (python -m trainer.prepare --config ... --root ...) first")
    version = latest(folder)
    if not version or version.startswith(".") or "/" in version:
        raise UsageError(f"{folder / LATEST} names no valid version ({version!r})", "re-run trainer.prepare to republish")
    version_dir = folder / version
    verify(version_dir, hashes=hashes)
    return version_dir


def latest(folder: Path) -> str:
    """The version a dataset folder's LATEST names (read with a bound: a FIFO or a device never blocks)."""
    return inputs.read_text(folder / LATEST, str(folder / LATEST), MAX_LATEST_BYTES, REPUBLISH).strip()


def read_manifest(version_dir: Path) -> dict:
    """manifest.json of a version, read with the gate's bounds and checked to be of the shape prepare writes."""
    what = f"the manifest of {version_dir}"
    manifest = inputs.read_json(Path(version_dir) / MANIFEST, what, MAX_MANIFEST_BYTES, fix=REPUBLISH)
    if not isinstance(manifest, dict) or not {"name", "version", "splits", "files", "archive"} <= manifest.keys():
        raise UsageError(f"{what} is incomplete", REPUBLISH)
    if not (_names(manifest["name"], manifest["version"]) and isinstance(manifest["files"], dict)
            and all(_relative(rel) and _entry(entry) for rel, entry in manifest["files"].items())
            and _entry(manifest["archive"]) and _relative(manifest["archive"].get("path"))
            and isinstance(manifest["splits"], dict) and all(_split(info) for info in manifest["splits"].values())):
        raise UsageError(f"{what} is not of the shape trainer.prepare writes", REPUBLISH)
    return manifest


def _names(*values) -> bool:
    return all(isinstance(v, str) and v and "/" not in v and not v.startswith(".") for v in values)


def _relative(rel) -> bool:
    return isinstance(rel, str) and bool(rel) and not rel.startswith("/") and ".." not in rel.split("/")


def _entry(entry) -> bool:
    return isinstance(entry, dict) and type(entry.get("bytes")) is int and isinstance(entry.get("sha256"), str)


def _split(info) -> bool:
    return (isinstance(info, dict) and _relative(info.get("shard")) and isinstance(info.get("shape"), list)
            and all(type(n) is int for n in info["shape"]))


def verify(version_dir: Path, *, hashes: bool = True, archive: bool = True) -> dict:
    """Check every file the manifest lists: present, right size and, with hashes, right sha256."""
    manifest = read_manifest(version_dir)
    entries = dict(manifest["files"])
    if archive:
        entries[manifest["archive"]["path"]] = manifest["archive"]
    for rel, entry in entries.items():
        path = Path(version_dir) / rel
        size = path.stat().st_size if path.is_file() else None
        if size != entry["bytes"] or (hashes and file_sha256(path) != entry["sha256"]):
            what = "is missing" if size is None else "does not match the manifest"
            raise UsageError(f"{path} {what}", "the dataset version is damaged: re-run trainer.prepare to publish a new one")
    return manifest


def open_split(version_dir: Path, split: str) -> np.ndarray:
    """The split's images, memory-mapped: len() images, [i] is an HxWx3 uint8 array at load size."""
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}", f"use one of {', '.join(SPLITS)}")
    info = read_manifest(version_dir)["splits"].get(split)
    if info is None:
        raise UsageError(f"the dataset in {version_dir} has no {split} images", f"add {split}/ to the source and re-run trainer.prepare")
    images = np.load(Path(version_dir) / info["shard"], mmap_mode="r")
    if images.dtype != np.uint8 or list(images.shape) != info["shape"]:
        raise UsageError(f"{info['shard']} in {version_dir} has shape {images.shape}, manifest says {info['shape']}",
                        "re-run trainer.prepare to republish")
    return images


def stage(version_dir: Path, scratch: Path) -> Path:
    """Unpack the version's archive into local scratch (once) and return that copy's folder."""
    manifest = read_manifest(version_dir)
    target = Path(scratch) / "datasets" / manifest["name"] / manifest["version"]
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    try:
        unpack(Path(version_dir) / manifest["archive"]["path"], build)
        shutil.copy2(Path(version_dir) / MANIFEST, build / MANIFEST)
        verify(build, hashes=True, archive=False)
        build.rename(target)
    except OSError:
        if not target.is_dir():  # another rank on this node staged it first: use theirs
            raise
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return target


def unpack(archive: Path, dest: Path) -> None:
    """Stream archive (.tar.zst or .tar.gz, one that trainer.prepare.pack wrote) through its decompressor
    into `tar -x`.

    Only a published version's own archive is unpacked (stage()): the manifest pins it by sha256 and stage()
    verifies every file before use, and GNU tar refuses absolute and `..` names by itself. tar's C extractor
    creates files several times faster than tarfile, and that is what unpacking many images costs; the
    decompressor (zstandard or zlib, both free the GIL) runs beside it.
    """
    Path(dest).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as errors, open(archive, "rb") as raw:
        tar = subprocess.Popen(["tar", "-x", "-C", str(dest)], stdin=subprocess.PIPE, stderr=errors)
        with contextlib.suppress(OSError):  # a 1 MiB pipe instead of 64 KiB: fewer switches between the two sides
            fcntl.fcntl(tar.stdin.fileno(), fcntl.F_SETPIPE_SZ, BUFFER)
        try:
            with tar.stdin:
                if archive.name.endswith(SUFFIXES["zstd"]):
                    zstandard.ZstdDecompressor().copy_stream(raw, tar.stdin, read_size=BUFFER, write_size=BUFFER)
                else:
                    with gzip.GzipFile(fileobj=raw) as stream:
                        shutil.copyfileobj(stream, tar.stdin, BUFFER)
        except (*CORRUPT, zstandard.ZstdError, gzip.BadGzipFile, BrokenPipeError) as e:
            tar.kill()
            reason = str(e)
        else:
            reason = ""
        if tar.wait() != 0 or reason:
            errors.seek(0)
            said = errors.read().decode(errors="replace").strip().splitlines()
            reason = reason or (said[-1] if said else f"tar exit code {tar.returncode}")
            raise UsageError(f"archive {archive} is corrupt ({reason})", "re-run trainer.prepare to publish a new version")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
