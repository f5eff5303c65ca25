"""The packed archive of a dataset version: tar compressed on every core the pod was given.

zstd (default): the zstandard library's own worker threads. gzip (the seed's format): the stream is cut
into blocks compressed as independent gzip members on a thread pool, like pigz; concatenated members
are one valid gzip stream (RFC 1952), so `pigz -d`, `gzip -d` and `tar xzf` read it.
"""
from __future__ import annotations

import gzip
import os
import tarfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import zstandard

from trainer.shards import BUFFER  # the format (SUFFIXES) and unpack() are the reader's, trainer.shards

LEVELS = {"zstd": 3, "gzip": 6}  # each tool's default level


def pack(src: Path, archive: Path, compression: str = "zstd", threads: int = 1, files: list[Path] | None = None) -> None:
    """tar files (default: every file under src) by their names relative to src, sorted; fsynced."""
    files = sorted(files if files is not None else (p for p in Path(src).rglob("*") if p.is_file()))
    with open(archive, "wb") as raw:
        with _compressor(raw, compression, threads) as stream, \
                tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT, copybufsize=BUFFER) as tar:
            for path in files:
                with open(path, "rb") as f:
                    tar.addfile(_entry(path.relative_to(src), os.fstat(f.fileno())), f)
        raw.flush()
        os.fsync(raw.fileno())


def _compressor(raw, compression: str, threads: int):
    if compression == "zstd":
        # threads=0 compresses in this thread; n >= 1 starts n workers beside it
        cctx = zstandard.ZstdCompressor(level=LEVELS["zstd"], threads=threads if threads > 1 else 0, write_checksum=True)
        return cctx.stream_writer(raw, closefd=False)
    return ParallelGzip(raw, threads, LEVELS["gzip"])


def _entry(name: Path, stat: os.stat_result) -> tarfile.TarInfo:
    """A regular file's header with neutral owner and mode (no user-database lookups per file)."""
    info = tarfile.TarInfo(str(name))
    info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o644
    return info


class ParallelGzip:
    """A write-only stream: 1 MiB blocks become independent gzip members, compressed `threads` at a time."""

    def __init__(self, raw, threads: int, level: int = 6, block: int = BUFFER):
        self.raw, self.level, self.block = raw, level, block
        self.pool = ThreadPoolExecutor(max(1, threads))
        self.window = 2 * max(1, threads)  # blocks in flight: keeps every thread busy, memory bounded
        self.pending: deque = deque()
        self.buffer = bytearray()
        self.written = 0

    def tell(self) -> int:  # tarfile asks where the archive starts
        return self.written

    def write(self, data) -> int:
        self.written += len(data)
        self.buffer += data
        while len(self.buffer) >= self.block:
            self._submit(bytes(self.buffer[: self.block]))
            del self.buffer[: self.block]
        return len(data)

    def _submit(self, chunk: bytes) -> None:
        self.pending.append(self.pool.submit(gzip.compress, chunk, self.level, mtime=0))  # zlib frees the GIL
        while len(self.pending) > self.window:
            self.raw.write(self.pending.popleft().result())

    def close(self) -> None:
        if self.buffer:
            self._submit(bytes(self.buffer))
            self.buffer.clear()
        while self.pending:
            self.raw.write(self.pending.popleft().result())
        self.pool.shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        else:
            self.pool.shutdown(cancel_futures=True)
