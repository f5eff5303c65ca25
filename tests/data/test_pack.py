"""Packing and unpacking: formats real tools read, safe extraction, staging to scratch."""
import io
import subprocess
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import zstandard

from trainer.errors import UsageError
from trainer.prepare import prepare
from trainer.prepare.archive import extract
from trainer.prepare.pack import ParallelGzip, pack
from trainer.prepare.source import Spec
from trainer.shards import open_split, resolve, stage, unpack

DATA = np.random.default_rng(3).integers(0, 8, 5 << 20, dtype=np.uint8).tobytes()  # compressible, 5 blocks


@pytest.mark.parametrize("tool", [["gzip", "-dc"], ["pigz", "-dc"]])
def test_parallel_gzip_is_one_valid_gzip_stream(tool):
    out = io.BytesIO()
    with ParallelGzip(out, threads=2, block=1 << 20) as stream:
        for i in range(0, len(DATA), 300_000):  # writes that straddle block boundaries
            stream.write(DATA[i: i + 300_000])
    assert 0 < len(out.getvalue()) < len(DATA)
    assert subprocess.run(tool, input=out.getvalue(), capture_output=True, check=True).stdout == DATA


@pytest.mark.parametrize("compression", ["zstd", "gzip"])
def test_unpack_restores_what_pack_packed(dataset, tmp_path, compression):
    archive = tmp_path / f"ds.tar.{'zst' if compression == 'zstd' else 'gz'}"
    pack(dataset, archive, compression, threads=2)
    unpack(archive, tmp_path / "out")
    packed = sorted(p.relative_to(dataset) for p in dataset.rglob("*") if p.is_file())
    assert sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*") if p.is_file()) == packed
    assert all((tmp_path / "out" / p).read_bytes() == (dataset / p).read_bytes() for p in packed)


def test_a_truncated_archive_is_reported(dataset, tmp_path):
    archive = tmp_path / "ds.tar.zst"
    pack(dataset, archive, "zstd", threads=2)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(UsageError, match="is corrupt"):
        unpack(archive, tmp_path / "out")


def tar_with(entry: tarfile.TarInfo, data: bytes = b"") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tf:
        entry.size = len(data) if entry.isfile() else 0
        tf.addfile(entry, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize("entry, message", [
    ("absolute", "points outside"),
    (tarfile.TarInfo("ds/../../evil"), "points outside"),
    (lambda: (t := tarfile.TarInfo("ds/trainA/link"), setattr(t, "type", tarfile.SYMTYPE),
              setattr(t, "linkname", "/etc/passwd"))[0], "is a link or special file"),
    (lambda: (t := tarfile.TarInfo("ds/trainA/hard"), setattr(t, "type", tarfile.LNKTYPE),
              setattr(t, "linkname", "ds/x"))[0], "is a link or special file"),
])
def test_unsafe_tar_entries_are_refused(tmp_path, entry, message):
    archive = tmp_path / "bad.tar.gz"
    if entry == "absolute":  # inside tmp_path, so a regression cannot write anywhere that matters
        entry = tarfile.TarInfo(str(tmp_path / "evil"))
    archive.write_bytes(tar_with(entry() if callable(entry) else entry, b"x"))
    with pytest.raises(UsageError, match=message):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil").exists()


def test_zip_symlinks_are_refused(tmp_path):
    link = zipfile.ZipInfo("ds/trainA/link.jpg")
    link.external_attr = 0o120777 << 16  # S_IFLNK, as `zip --symlinks` stores it
    archive = tmp_path / "links.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(UsageError, match="'ds/trainA/link.jpg' is a link or special file"):
        extract(archive, tmp_path / "out")


def test_archives_expanding_beyond_the_limit_are_refused(tmp_path):
    archive = tmp_path / "bomb.tar.gz"
    archive.write_bytes(tar_with(tarfile.TarInfo("ds/trainA/zeros.bin"), bytes(1 << 20)))
    assert archive.stat().st_size < 10_000
    with pytest.raises(UsageError, match="expands beyond 100000 bytes"):
        extract(archive, tmp_path / "out", max_bytes=100_000)


def test_stage_unpacks_a_verified_copy_to_scratch(dataset, tmp_path):
    version = prepare(Spec("ds", path=str(dataset), load_size=12), tmp_path / "pvc", threads=2, log=lambda _: None)
    local = stage(resolve(tmp_path / "pvc", "ds"), tmp_path / "scratch")
    assert local.parent.parent.parent == tmp_path / "scratch" and local.name == version.name
    for split in ("trainA", "testB"):
        np.testing.assert_array_equal(open_split(local, split), open_split(version, split))
    assert stage(version, tmp_path / "scratch") == local  # a second rank reuses the copy


def test_unpack_never_writes_outside_dest(tmp_path):
    # unpack() trusts the system tar to refuse `..` and absolute names; this holds it to that
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        for name in ("../escaped", "/tmp/absolute-escape-probe", "ok/inside"):
            entry = tarfile.TarInfo(name)
            entry.size = 2
            tf.addfile(entry, io.BytesIO(b"hi"))
    archive = tmp_path / "evil.tar.zst"
    archive.write_bytes(zstandard.ZstdCompressor().compress(raw.getvalue()))
    (tmp_path / "dest").mkdir()
    try:
        unpack(archive, tmp_path / "dest")
    except UsageError:
        pass  # refusing the whole archive is fine too
    assert not (tmp_path / "escaped").exists() and not Path("/tmp/absolute-escape-probe").exists()
