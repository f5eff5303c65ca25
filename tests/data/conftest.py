"""Fixtures for the data-stage tests (helpers in support.py)."""
from pathlib import Path

import pytest

from .support import Server, make_dataset


@pytest.fixture
def dataset(tmp_path) -> Path:
    return make_dataset(tmp_path / "source")


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()
