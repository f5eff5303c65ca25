"""The render cache's key: a sha256 over everything one `kustomize build` reads, or None when that is unknown.

- The renderer: its arguments, its `version` output and the sha256 of the binary's bytes. The bytes decide
  (two builds can print the same version, and size and mtime change on every fresh install, as in CI,
  where the same bytes should still hit); the version output catches a wrapper script whose bytes stay the
  same while the binary it runs changes. Computed once per process per binary, the digest kept in the cache
  by the binary's path, size, mtime, ctime and inode.
- The overlay's path and every input of overlay_files.inputs (the kustomizations, followed recursively,
  and every file they name: resources, components, patches, generators' files and envs, replacements,
  openapi, crds, ...), each as its path relative to the overlay's repository and its content; a folder
  as which kustomization files it holds and their content (kustomize reads nothing else of a folder).
  What a kustomization's text names is kept in the cache by that text, so a warm run parses no YAML.
- None (render, do not store) when an input lies outside the overlay's repository, a kustomization cannot
  be read, or the renderer cannot say its version. Remote entries are never cached (--allow-remote skips
  the cache), and kustomize refuses helm charts and plugins without flags nautilus never passes, so their
  failed renders are never stored.
"""
import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from generator.core import repo
from generator.core.tools import run
from generator.render import cache as store
from generator.render import overlay_files
from generator.render.overlay_files import candidates, KUSTOMIZATIONS, inputs
from trainer import safe_yaml
from trainer.errors import UsageError

FORMAT = "nautilus-render-key-1"
VERSION_SECONDS = 10


_UNSAVED: dict[str, str] = {}  # tool digests hashed by this process, stored by the next flush


@dataclass
class Memo:
    """What one command learns once and reuses for every overlay: each folder's named paths and each file's
    digest (the tree does not change while the command runs), and the entries it will store once its renders
    succeeded (flush): a command that fails leaves the repository as it was."""
    named: dict = field(default_factory=dict)
    digests: dict = field(default_factory=dict)
    tops: dict = field(default_factory=dict)   # folder holding overlays -> their repository
    pending: list = field(default_factory=list)  # (key, body) to store


def flush(memo: Memo | None = None) -> bool:
    """Store what memo (and this process) learnt; whether anything was written."""
    where = store.folder() if store.enabled() else None
    entries = [*(memo.pending if memo else []), *((k, {"sha256": _UNSAVED.pop(k, "")}) for k in list(_UNSAVED))]
    if memo:
        memo.pending.clear()
    for found, body in entries if where is not None else []:
        if body != {"sha256": ""}:
            store.put(where, found, body)
    return bool(entries) and where is not None


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def renderer(command: list[str]) -> str | None:
    """The identity of command (kustomize build, or kubectl kustomize); None when it cannot say its version."""
    return tool(command[0], ["version"] if command[1:] == ["build"] else ["version", "--client"], command[1:])


def tool(binary: str, asks: list[str], args: list[str] = ()) -> str | None:
    """sha256 over args, what `binary *asks` prints and the binary's bytes; None when it does not answer."""
    try:
        stat = os.stat(binary)
    except OSError:
        return None
    return _tool(os.path.realpath(binary), tuple(asks), tuple(args), stat.st_size, stat.st_mtime_ns,
                 stat.st_ctime_ns, stat.st_ino)


@cache
def _tool(binary: str, asks: tuple[str, ...], args: tuple[str, ...], *stat: int) -> str | None:
    try:
        proc = run([binary, *asks], VERSION_SECONDS, f"{binary} {' '.join(asks)}")
        digest = _binary_digest(binary, stat)
    except (OSError, UsageError):
        return None
    if proc.returncode != 0:
        return None
    return hashlib.sha256(json.dumps([list(args), proc.stdout + proc.stderr, digest]).encode()).hexdigest()


def _binary_digest(binary: str, stat: tuple[int, ...]) -> str:
    """The sha256 of a binary's bytes (tens of MB), remembered in the cache by its path, size, mtime, ctime and
    inode: a binary written anew has a new ctime (it cannot be set back) and is hashed anew, as is a fresh
    install (a CI runner), whose bytes then give the same digest."""
    where = store.folder() if store.enabled() else None
    found = "tool-" + hashlib.sha256(json.dumps([binary, *stat]).encode()).hexdigest()
    hit = store.get(where, found) if where is not None else None
    if hit is not None and isinstance(hit.get("sha256"), str):
        return hit["sha256"]
    digest = _file_digest(Path(binary))
    _UNSAVED[found] = digest
    return digest


@cache
def _reader() -> str:
    """What decides candidates(text): its code and the YAML reader's (their bytes) and ruamel.yaml's version."""
    from importlib import metadata
    code = b"".join(Path(m.__file__).read_bytes() for m in (overlay_files, safe_yaml))
    return hashlib.sha256(code + metadata.version("ruamel.yaml").encode()).hexdigest()


def _kept_candidates(text: str, source: str, memo: Memo) -> list[str] | None:
    """overlay_files.candidates(text), kept in the cache by the text (a hit parses no YAML)."""
    where = store.folder() if store.enabled() else None
    found = "names-" + hashlib.sha256(json.dumps([_reader(), text]).encode()).hexdigest()
    hit = store.get(where, found) if where is not None else None
    if hit is not None and isinstance(hit.get("names"), list) and all(isinstance(n, str) for n in hit["names"]):
        return hit["names"]
    names = candidates(text, source)
    if where is not None and names is not None:
        memo.pending.append((found, {"names": names}))
    return names


def _digest(path: Path, memo: Memo) -> str | None:
    if path not in memo.digests:
        try:
            if path.is_dir():
                memo.digests[path] = json.dumps({name: _file_digest(path / name) for name in KUSTOMIZATIONS
                                                 if (path / name).is_file()})
            else:
                memo.digests[path] = _file_digest(path) if path.is_file() else None
        except OSError:
            memo.digests[path] = None
    return memo.digests[path]


def key(overlay: Path, command: list[str], memo: Memo | None = None) -> str | None:
    """The key of `command overlay`'s output; None when what it reads is not known exactly."""
    memo = memo if memo is not None else Memo()
    tool = renderer(command)
    parent = Path(overlay).resolve().parent
    if parent not in memo.tops:  # the overlay's own repository: a --base checkout keys like the working tree
        found = repo.find(parent / Path(overlay).name)
        memo.tops[parent] = found.resolve() if found is not None else None
    top = memo.tops[parent]
    if tool is None or top is None:
        return None
    used = inputs(overlay, top, memo.named, lambda text, source: _kept_candidates(text, source, memo))
    if used is None:
        return None
    h = hashlib.sha256(json.dumps([FORMAT, tool, str(Path(overlay).resolve().relative_to(top))]).encode())
    for relative in sorted(used):
        digest = _digest(top / relative, memo)
        if digest is None:
            return None
        h.update(json.dumps([relative.as_posix(), digest]).encode() + b"\n")
    return f"render-{h.hexdigest()}"
