"""The data stage: fetch -> verify -> extract -> preprocess -> pack -> publish, once per source.

`prepare()` is a no-op when LATEST already holds a verified version with the same source fingerprint;
with published_only it only checks that (the train Job's init container, so no GPU waits on data work).
Otherwise it works under the dataset's
lock in a private .build-* folder and publishes by renaming it into place; any failure removes the
build and leaves LATEST as it was. A download's .part file stays so the next attempt resumes it.
Before the first shard is written the bytes the version needs are compared with the volume's free space,
and every write is an ordinary one, so a volume that fills up anyway is an error (ENOSPC), not a SIGBUS.
A build folder and lock left by a preparer that was killed are removed by the next run, even one that
finds nothing to do.
"""
from __future__ import annotations

import hashlib
import json
import platform
import shutil
import tempfile
import time
from datetime import datetime, timezone
from importlib.metadata import version as package_version
from pathlib import Path
from urllib.parse import urlparse

from trainer.errors import UsageError
from trainer.prepare.archive import DEFAULT_MAX_BYTES, extract, find_layout
from trainer.prepare.download import fetch
from trainer import volume
from trainer.prepare.images import list_images, shard_bytes, write_shard
from trainer.prepare.pack import LEVELS, pack
from trainer.atomic import write_text
from trainer.prepare.publish import Busy, Lock, new_version_name, publish
from trainer.prepare.source import FORMAT_VERSION, Spec, fingerprint, local_file, source_url
from trainer.shards import LATEST, MANIFEST, SPLITS, SUFFIXES, dataset_dir, file_sha256, read_manifest, resolve, verify


def prepare(spec: Spec, root: Path, *, threads: int = 1, max_extract_bytes: int = DEFAULT_MAX_BYTES,
            stale_after: float = 120.0, backoff: float = 2.0, log=print, published_only: bool = False) -> Path:
    """Publish spec's dataset under root (unless it already is) and return the version folder.

    published_only: never build; UsageError unless the version is already published (the train Job's
    check: a GPU pod must not wait while a dataset is prepared).
    """
    folder = dataset_dir(root, spec.name)
    mark = fingerprint(spec)
    if current := _published(root, spec.name, mark, log):
        if not published_only:  # the GPU pod's check never waits on a lock; the data Job tidies
            _tidy(folder, stale_after, log)
        return current
    if published_only:
        raise UsageError(f"dataset {spec.name!r} is not published under {folder} for this train.yaml",
                        "the data stage prepares it on a CPU node: apply the stages storage, config and data, wait "
                        "for the data Job, then delete and re-apply the train Job (docs/workflow.md)")
    folder.mkdir(parents=True, exist_ok=True)
    with Lock(folder / ".lock", stale_after=stale_after, log=log):
        if current := _published(root, spec.name, mark, log, quiet=True):  # finished while we waited
            return current
        _remove_builds(folder)
        download = _download_path(folder, spec)
        build = Path(tempfile.mkdtemp(prefix=".build-", dir=folder))
        started = time.monotonic()
        try:
            manifest = _build(spec, mark, build, download, threads, max_extract_bytes, backoff, log)
            name = new_version_name(folder)
            manifest.update(version=name, created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
            write_text(build / MANIFEST, json.dumps(manifest, indent=1) + "\n")  # the build's last file
            version = publish(build, folder, name)
        except UsageError as e:
            if download and not isinstance(e, volume.Full):  # bad content: fetch it afresh next time
                download.unlink(missing_ok=True)  # (an interrupted download's .part stays)
            raise
        except OSError as e:
            if e.errno in volume.FULL:
                raise volume.problem(e, folder) from None
            raise
        finally:
            shutil.rmtree(build, ignore_errors=True)  # already gone when published
    if download:  # its bytes now live in the version
        download.unlink(missing_ok=True)
    log(f"prepare: published {spec.name} version {version.name} in {time.monotonic() - started:.1f}s")
    return version


def _remove_builds(folder: Path) -> None:
    """Drop the .build-* folders of preparers that died; call it holding the lock (then no live one exists)."""
    for leftover in folder.glob(".build-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _tidy(folder: Path, stale_after: float, log) -> None:
    """With nothing to build, still remove what a killed preparer left (its build can fill the volume)."""
    if not any(folder.glob(".build-*")) and not (folder / ".lock").exists():
        return
    try:
        with Lock(folder / ".lock", stale_after=stale_after, log=log, wait_for_live=False):
            _remove_builds(folder)
        log(f"prepare: removed what a stopped preparer left in {folder}")
    except Busy:  # a live preparer (other settings) is building: its folder is its own
        log(f"prepare: another preparer is working in {folder}; leaving its files to it")


def _published(root: Path, name: str, mark: str, log, quiet: bool = False) -> Path | None:
    """The version LATEST names, when it was built from this fingerprint and every file still matches."""
    if not (dataset_dir(root, name) / LATEST).exists():
        return None
    try:
        version = resolve(root, name)
        if read_manifest(version).get("fingerprint") != mark:
            quiet or log(f"prepare: {name}: the source or settings changed since {version.name}; building a new version")
            return None
        verify(version, hashes=True)
    except UsageError as e:
        quiet or log(f"prepare: {name}: the published version is unusable ({e}); building a new one")
        return None
    log(f"prepare: {name} is already published as {version.name}; nothing to do")
    return version


def _download_path(folder: Path, spec: Spec) -> Path | None:
    """Where an http(s) source is downloaded; keyed by URL so a changed URL never resumes another's .part."""
    url = source_url(spec)
    if url is None or local_file(url):
        return None
    key = hashlib.sha256(url.encode()).hexdigest()[:12]
    return folder / ".download" / key / (Path(urlparse(url).path).name or spec.name)


def _build(spec: Spec, mark: str, build: Path, download: Path | None, threads: int, max_bytes: int, backoff: float,
           log) -> dict:
    """Fill build with shards, originals (optional) and the packed archive; return the manifest."""
    url = source_url(spec)
    if spec.path:
        source = {"kind": "path", "path": str(Path(spec.path).resolve())}
        layout = find_layout(Path(spec.path))
    else:
        archive = local_file(url) or fetch(url, download, sha256=spec.sha256, backoff=backoff, log=log)
        if not archive.is_file():
            raise UsageError(f"{url} does not exist", "fix dataset.url")
        archive_sha = file_sha256(archive)
        if spec.sha256 and archive_sha != spec.sha256:
            raise UsageError(f"{url} has sha256 {archive_sha}, expected {spec.sha256}", "fix dataset.sha256 or the URL")
        source = {"kind": "url" if spec.url else "catalogue", "url": url, "sha256": archive_sha, "bytes": archive.stat().st_size}
        log(f"prepare: extracting {archive.name} ({archive.stat().st_size} bytes)")
        extract(archive, build / ".extracted", max_bytes)
        layout = find_layout(build / ".extracted")

    splits, payload, listed = {}, [], {}
    (build / "shards").mkdir()
    for split in SPLITS:
        images, skipped = list_images(layout / split) if (layout / split).is_dir() else ([], 0)
        if not images:
            if split.startswith("train"):
                raise UsageError(f"{split}/ holds no images", "a CycleGAN dataset needs images in trainA/ and trainB/")
            continue
        log(f"prepare: {split}: {len(images)} images" + (f" ({skipped} other files skipped)" if skipped else ""))
        listed[split] = images
    _check_space(build, spec, listed)
    for split, images in listed.items():
        shard = build / "shards" / f"{split}.npy"
        write_shard(images, shard, spec.load_size, threads)
        payload.append(shard)
        splits[split] = {"count": len(images), "shard": f"shards/{split}.npy",
                         "shape": [len(images), spec.load_size, spec.load_size, 3],
                         "names": [str(p.relative_to(layout / split)) for p in images]}
        if spec.keep_originals:
            kept = build / "originals" / split
            kept.parent.mkdir(exist_ok=True)
            if spec.path:  # the user's folder stays untouched
                shutil.copytree(layout / split, kept)
            else:
                (layout / split).rename(kept)
            payload += [kept / p.relative_to(layout / split) for p in images]
    shutil.rmtree(build / ".extracted", ignore_errors=True)

    archive_out = build / f"{spec.name}{SUFFIXES[spec.compression]}"
    log(f"prepare: packing {archive_out.name} on {threads} threads")
    pack(build, archive_out, spec.compression, threads, files=payload)
    manifest = {
        "format": FORMAT_VERSION, "name": spec.name, "fingerprint": mark, "source": source,
        "load_size": spec.load_size, "splits": splits,
        "files": {str(p.relative_to(build)): _entry(p) for p in sorted(payload)},
        "archive": {"path": archive_out.name, "compression": spec.compression, "level": LEVELS[spec.compression],
                    **_entry(archive_out)},
        "tools": {"python": platform.python_version(),
                  **{pkg: package_version(pkg) for pkg in ("numpy", "pillow", "zstandard")}},
    }
    return manifest


def _check_space(build: Path, spec: Spec, listed: dict) -> None:
    """Refuse before the first shard when the version cannot fit: shards (sizes known from the image counts),
    copied originals, and the packed archive, counted at the size of what it packs (pixels barely compress)."""
    shards = sum(shard_bytes(len(images), spec.load_size) for images in listed.values())
    originals = sum(p.stat().st_size for images in listed.values() for p in images) if spec.keep_originals else 0
    copied = originals if spec.path else 0  # an archive's extracted originals are moved, not copied
    volume.require_space(build.parent, 2 * shards + copied + originals, f"dataset {spec.name} (shards and archive)")


def _entry(path: Path) -> dict:
    return {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
