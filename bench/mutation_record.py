"""Which tests execute which lines of one module, for bench/mutation.py: a pytest plugin (`-p bench.mutation_record`)
and, through a sitecustomize.py that bench/mutation.py writes, the same recording in the Python subprocesses the
tests start (the data-stage tests run `python -m trainer.prepare`).

Coverage.py measures the one module (MUTATION_MODULE) with the running test's node id as its context; lines run
while the module is imported carry the empty context. Each process saves its own data file beside MUTATION_DATA
(bench/mutation.py combines them); the plugin also writes each test's duration to durations.json in the folder above.
"""
import atexit
import json
import os
import time
from pathlib import Path

import coverage
import pytest

_durations: dict[str, float] = {}


def start(context: str = "") -> coverage.Coverage:
    cov = coverage.Coverage(data_file=os.environ["MUTATION_DATA"], data_suffix=True, config_file=False,
                            include=[os.environ["MUTATION_MODULE"]], context=context or None)
    cov.start()

    def save():
        cov.stop()
        cov.save()
    atexit.register(save)
    return cov


def start_in_subprocess() -> None:
    """From sitecustomize.py: record a subprocess started during a test under that test's id."""
    if os.environ.get("MUTATION_CONTEXT"):
        start(os.environ["MUTATION_CONTEXT"])


_cov = start() if os.environ.get("MUTATION_DATA") else None  # at import: before the conftests import the module


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if _cov is None:
        yield
        return
    _cov.switch_context(item.nodeid)
    os.environ["MUTATION_CONTEXT"] = item.nodeid
    began = time.monotonic()
    yield
    _durations[item.nodeid] = time.monotonic() - began
    os.environ.pop("MUTATION_CONTEXT", None)
    _cov.switch_context("")


def pytest_unconfigure(config):
    if _cov is not None:
        with open(Path(os.environ["MUTATION_DATA"]).parent.parent / "durations.json", "w") as out:
            json.dump(_durations, out)
