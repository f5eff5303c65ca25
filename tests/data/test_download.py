"""The downloader against a real HTTP server: resume with Range, retries, clear errors."""
import hashlib

import numpy as np
import pytest

from trainer.prepare.download import fetch
from trainer.errors import UsageError

BODY = np.random.default_rng(7).bytes(3 << 20)


@pytest.fixture
def served(server):
    server.files["/ds.zip"] = BODY
    return server


@pytest.mark.parametrize("fault", ["drop", "short"])
def test_resumes_after_the_connection_ends_halfway(served, tmp_path, fault):
    served.faults["/ds.zip"] = [fault]
    dest = fetch(served.url("/ds.zip"), tmp_path / "ds.zip", backoff=0.01, log=lambda _: None)
    assert dest.read_bytes() == BODY
    first, second = served.log
    assert first["range"] is None and 0 < first["sent"] < len(BODY)
    # the retry asks only for what is missing, and nothing is sent twice
    have = int(second["range"].removeprefix("bytes=").removesuffix("-"))
    assert second["status"] == 206 and have > 0
    assert have + second["sent"] == len(BODY)
    assert served.served("/ds.zip") <= len(BODY) + (1 << 20)  # at most the unflushed tail of the first try again


def test_retries_5xx_with_backoff(served, tmp_path):
    served.faults["/ds.zip"] = ["503", "503"]
    lines = []
    fetch(served.url("/ds.zip"), tmp_path / "ds.zip", backoff=0.01, log=lines.append)
    assert [r["status"] for r in served.log] == [503, 503, 200]
    assert sum("retry" in line for line in lines) == 2


def test_4xx_is_a_clear_error_without_retry(served, tmp_path):
    with pytest.raises(UsageError, match="HTTP 404.*check dataset"):
        fetch(served.url("/missing.zip"), tmp_path / "missing.zip", backoff=0.01, log=lambda _: None)
    assert len(served.log) == 1
    assert not (tmp_path / "missing.zip").exists()


def test_gives_up_after_the_last_attempt(served, tmp_path):
    served.faults["/ds.zip"] = ["503"] * 3
    with pytest.raises(UsageError, match="failed 3 times"):
        fetch(served.url("/ds.zip"), tmp_path / "ds.zip", attempts=3, backoff=0.01, log=lambda _: None)


def test_sha256_is_checked(served, tmp_path):
    good = hashlib.sha256(BODY).hexdigest()
    assert fetch(served.url("/ds.zip"), tmp_path / "a.zip", sha256=good, log=lambda _: None).exists()
    with pytest.raises(UsageError, match="expected 0000"):
        fetch(served.url("/ds.zip"), tmp_path / "b.zip", sha256="0" * 64, log=lambda _: None)
    assert not (tmp_path / "b.zip").exists()


def test_progress_is_whole_lines(served, tmp_path):
    lines = []
    fetch(served.url("/ds.zip"), tmp_path / "ds.zip", log=lines.append)
    assert lines and all("\r" not in line and "\n" not in line for line in lines)
    assert lines[-1].endswith("(100%)")
