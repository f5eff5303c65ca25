"""The render cache: renders, and the checks of what they rendered, under the repository's .cache/nautilus/.

A key is a sha256 over everything that decides the value (render/render_key.py for a render, what a
kustomization names and a tool's digest; policy/check_cache.py for a check, review/cached_rows.py for the
report's rows), so an entry never goes stale: a change to any input is another key.
Each entry is one file named by its key and written atomically (a temp file renamed over it), holding a
header line (format, key, size and a sha256 of key and body) and the body, a JSON object (a render's output
and its objects, so that a hit parses no YAML). A file that is truncated, edited by hand, copied from
another key or written by another format fails that check and is a miss, never an answer. Entries are
immutable, so two commands at once need no lock: both write the same bytes, and the last rename wins. The
folder is kept under `limits.render_cache_mib` of schemas/policy.yaml by deleting the entries used longest
ago (a hit touches its entry). NAUTILUS_RENDER_CACHE=off turns the cache off; deleting the folder clears it.
"""
import hashlib
import json
import os
import time
from pathlib import Path

from generator.core import repo
from generator.core.schemas import limit
from trainer import atomic, inputs
from trainer.errors import UsageError
from trainer.safe_yaml import MAX_BYTES

FORMAT = "nautilus-cache-1"
FOLDER = Path(".cache/nautilus")
SUFFIX = ".entry"
SWITCH = "NAUTILUS_RENDER_CACHE"
STALE_TEMP_SECONDS = 3600  # a temp file this old belongs to a killed command


def enabled() -> bool:
    """Whether renders are cached: yes unless NAUTILUS_RENDER_CACHE says off; UsageError on another value."""
    value = os.environ.get(SWITCH, "on").strip().lower()
    if value not in ("on", "off", "1", "0", ""):
        raise UsageError(f"{SWITCH} is {os.environ[SWITCH]!r}", f"set {SWITCH}=off to turn the render cache off, or unset it")
    return value in ("on", "1", "")


def folder() -> Path | None:
    """Where entries live: the cache folder of the current directory's repository; None outside one."""
    found = repo.find()
    return found / FOLDER if found is not None else None


def _checksum(key: str, body: bytes) -> str:
    return hashlib.sha256(key.encode() + b"\0" + body).hexdigest()


def _entry(where: Path, key: str) -> Path:
    return where / f"{key}{SUFFIX}"


def get(where: Path, key: str) -> dict | None:
    """The body (a JSON object) stored under key, when its entry is whole and is that key's; else None."""
    path = _entry(where, key)
    try:
        data = inputs.read_bytes(path, str(path), 2 * MAX_BYTES + 4096)
    except UsageError:  # missing, not a regular file, too large: a miss
        return None
    head, newline, body = data.partition(b"\n")
    try:
        header = json.loads(head)
        whole = (newline and isinstance(header, dict) and header.get("format") == FORMAT and header.get("key") == key
                 and header.get("bytes") == len(body) and header.get("sha256") == _checksum(key, body))
        stored = json.loads(body) if whole else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(stored, dict):
        return None
    try:
        os.utime(path)  # used now: evicted last
    except OSError:
        pass
    return stored


def exact(value) -> bool:
    """Whether JSON gives value back as it is (not for int keys, NaN, bytes, tuples)."""
    try:
        return json.loads(json.dumps(value)) == value
    except (TypeError, ValueError, RecursionError):
        return False


def put(where: Path, key: str, body: dict) -> None:
    """Store body (a JSON object) under key; a cache that cannot be written is no cache, never a failure."""
    data = json.dumps(body).encode()
    header = {"format": FORMAT, "key": key, "bytes": len(data), "sha256": _checksum(key, data)}
    ignore = where / ".gitignore"  # never committed, in a repository whose .gitignore does not say so
    try:
        if not ignore.exists():
            atomic.write(ignore, lambda f: f.write(b"# nautilus's cache: never committed\n*\n"), durable=False)
        atomic.write(_entry(where, key), lambda f: f.write(json.dumps(header, sort_keys=True).encode() + b"\n" + data),
                     durable=False)
    except (OSError, UsageError):
        pass


def evict(where: Path | None, budget: int | None = None) -> None:
    """Delete the entries used longest ago until the folder holds at most budget bytes (policy.yaml's
    limits.render_cache_mib), and temp files that killed commands left behind; nothing without a folder."""
    if where is None:
        return
    budget = budget if budget is not None else int(limit("render_cache_mib")) * 2**20
    now, entries = time.time(), []
    try:
        names = os.listdir(where)
    except OSError:
        return
    for name in names:
        path = where / name
        try:
            stat = path.stat()
        except OSError:
            continue
        if name.endswith(SUFFIX) and not name.startswith("."):
            entries.append((stat.st_mtime, name, stat.st_size))
        elif name.startswith(".") and name.endswith(".tmp") and now - stat.st_mtime > STALE_TEMP_SECONDS:
            path.unlink(missing_ok=True)
    total = sum(size for _, _, size in entries)
    for _, name, size in sorted(entries):
        if total <= budget:
            break
        (where / name).unlink(missing_ok=True)
        total -= size
