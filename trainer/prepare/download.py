"""Streamed HTTP download onto the PVC that survives dropped connections and restarted pods.

The bytes go to <dest>.part; a retry (or the next pod) asks for the rest with `Range: bytes=<have>-`.
Timeouts, dropped connections and 5xx/429 are retried with exponential backoff; other 4xx are the
user's to fix. Progress goes out as whole lines (kubectl logs shows no carriage-return redraws).
"""
from __future__ import annotations

import http.client
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

from trainer.errors import UsageError
from trainer.shards import file_sha256

CHUNK = 256 << 10  # small reads: a reset connection loses at most what the kernel held
RETRYABLE = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)


class _Retry(Exception):
    """A transient failure: back off and ask again for what is still missing."""


def fetch(url: str, dest: Path, *, sha256: str | None = None, attempts: int = 8, backoff: float = 2.0,
          timeout: float = 60.0, log=print) -> Path:
    """Download url to dest (resuming dest.part) and return dest; dest is complete when it exists."""
    dest = Path(dest)
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        for attempt in range(attempts):
            try:
                _get_rest(url, part, timeout, log)
                break
            except (_Retry, *RETRYABLE) as e:
                if attempt == attempts - 1:
                    raise UsageError(f"download of {url} failed {attempts} times (last: {e})",
                                    "check the URL and the network, then re-run: it resumes where it stopped") from None
                delay = backoff * 2 ** attempt
                log(f"download: {e}; retry {attempt + 1}/{attempts - 1} in {delay:.0f}s, "
                    f"resuming at {part.stat().st_size if part.exists() else 0} bytes")
                time.sleep(delay)
        _fsync(part)
        part.rename(dest)
    if sha256 and (actual := file_sha256(dest)) != sha256:
        dest.unlink()
        raise UsageError(f"{url} has sha256 {actual}, expected {sha256}", "fix dataset.sha256 or the URL; the file was deleted")
    return dest


def _get_rest(url: str, part: Path, timeout: float, log) -> None:
    """One request for the bytes part lacks; raises _Retry when the server or network gave up early."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have and _total(e.headers.get("Content-Range")) == have:
            return  # the .part already holds every byte
        if e.code == 416:
            part.unlink()
            raise _Retry("server refused the resume range; starting over") from None
        if e.code >= 500 or e.code == 429:
            raise _Retry(f"HTTP {e.code} {e.reason}") from None
        raise UsageError(f"{url} answered HTTP {e.code} {e.reason}",
                        "check dataset.name / dataset.url / dataset.base_url in train.yaml") from None
    with response:
        if have and response.status != 206:
            log("download: server ignores Range; starting over")
            have = 0
        total = _total(response.headers.get("Content-Range")) or _length(response, have)
        with open(part, "r+b" if have else "wb") as out:
            out.seek(have)
            out.truncate()
            got, last_report = have, 0.0
            while block := response.read(CHUNK):
                out.write(block)
                got += len(block)
                if time.monotonic() - last_report > 10 or got == total:
                    last_report = time.monotonic()
                    log(f"download {part.name[:-5]}: {_mib(got)} / {_mib(total) if total else '?'} MiB"
                        + (f" ({100 * got // total}%)" if total else ""))
    if total and got < total:
        raise _Retry(f"connection ended at {got} of {total} bytes")


def _total(content_range: str | None) -> int | None:
    match = re.fullmatch(r"bytes (?:\d+-\d+|\*)/(\d+)", (content_range or "").strip())
    return int(match.group(1)) if match else None


def _length(response, have: int) -> int | None:
    length = response.headers.get("Content-Length")
    return have + int(length) if length and length.isdigit() else None


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f}"


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())
