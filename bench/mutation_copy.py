"""What bench/mutation.py runs inside its private copy of the repository.

Recording: which tests execute which lines of one module. A pytest plugin (`-p bench.mutation_copy`) and,
through a sitecustomize.py that bench/mutation.py writes at the copy's root, the same recording in the Python
subprocesses the tests start (the data-stage tests run `python -m trainer.prepare`), also those started with
an environment of their own that keeps only the copy on PYTHONPATH (the workflow steps of the GitOps tests):
the running test's id is in a file (CONTEXT), not in the environment.

Coverage.py measures the one module (MUTATION_MODULE) with the running test's node id as its context; lines run
while the module is imported carry the empty context. Each process saves its own data file beside MUTATION_DATA
(bench/mutation.py combines them); the plugin also writes each test's duration, and the modules from outside
the copy that the tests imported, to run.json in the folder above.

Serving: serve() imports those modules once (torch, pytest, ...) and then, for each mutant, forks a child
that runs pytest on the tests bench/mutation.py names; the child imports the (mutated) project afresh.
"""
import atexit
import json
import os
import sys
import time
import warnings
from pathlib import Path

import coverage
import pytest

_durations: dict[str, float] = {}


CONTEXT = "context"  # beside run.json: the node id of the test running now


def start(data: str, module: str, context: str = "") -> coverage.Coverage:
    cov = coverage.Coverage(data_file=data, data_suffix=True, config_file=False, include=[module],
                            context=context or None)
    cov.set_option("run:disable_warnings", ["no-data-collected", "module-not-measured", "module-not-imported"])
    cov.start()

    def save():  # silently: the tests read what the processes they start print
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cov.stop()
            cov.save()
    atexit.register(save)
    return cov


def start_in_subprocess(data: str, module: str) -> None:
    """From sitecustomize.py: record a subprocess started during a test under that test's id (none runs while
    pytest itself starts)."""
    context = Path(data).parent.parent / CONTEXT
    if context.is_file():
        start(data, module, context.read_text())


# The pytest process, at import (before the conftests import the module); taken out of the environment, so
# that the processes the tests start are recorded by sitecustomize.py alone.
_data, _module = os.environ.pop("MUTATION_DATA", None), os.environ.pop("MUTATION_MODULE", None)
_cov = start(_data, _module) if _data else None
_folder = Path(_data).parent.parent if _data else None  # run.json and CONTEXT


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if _cov is None:
        yield
        return
    context = _folder / CONTEXT
    _cov.switch_context(item.nodeid)
    context.write_text(item.nodeid)
    began = time.monotonic()
    yield
    _durations[item.nodeid] = time.monotonic() - began
    context.unlink()
    _cov.switch_context("")


def pytest_unconfigure(config):
    if _cov is not None:
        root = os.getcwd()
        outside = sorted({name.partition(".")[0] for name, module in list(sys.modules.items())
                          if not (getattr(module, "__file__", None) or root).startswith(root)})
        with open(_folder / "run.json", "w") as out:
            json.dump({"durations": _durations, "modules": outside}, out)


TIMED_OUT = 124  # a child's exit code when one test ran past its own limit


class _Limits:
    """In the child: each test gets its own time limit (a hanging mutant is noticed after the limit of the
    test that hangs, not of all the tests selected); past it, the child exits at once with TIMED_OUT."""

    def __init__(self, limits: dict[str, float]):
        self.limits = limits

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        import signal
        signal.signal(signal.SIGALRM, lambda *_: os._exit(TIMED_OUT))
        signal.setitimer(signal.ITIMER_REAL, self.limits.get(item.nodeid, 0) or 0)
        yield
        signal.setitimer(signal.ITIMER_REAL, 0)


def serve() -> None:
    """Read requests as JSON lines on stdin ({"tests": {node id: time limit}, "timeout": s, "output": path});
    answer each with {"rc": pytest's exit code, TIMED_OUT, or null when the whole run timed out} on stdout."""
    import importlib
    import signal
    preload = json.loads(sys.stdin.readline())["modules"]
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 (a module that cannot be imported twice or alone: the child imports it)
            pass
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the child: its own process group, so a timeout ends the processes it started too
            os.setsid()
            out = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(out, 1)
            os.dup2(out, 2)
            try:
                rc = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "--tb=no", *request["tests"]],
                                 plugins=[_Limits(request["tests"])])
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(int(rc))
        deadline = time.monotonic() + request["timeout"]
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                rc = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                rc = None
                break
            time.sleep(0.02)
        try:  # what the tests started and left behind (a test that timed out, a mutant that leaks processes)
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        print(json.dumps({"rc": rc}), flush=True)
