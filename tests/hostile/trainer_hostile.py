"""Shared by the trainer's hostile-input tests: run `python -m trainer.*` as a user does (a child process),
check that a refusal is one `error:` line with its exit code and no traceback, and give tests a real volume
with little free space.

SmallVolume, the real full file system: a tmpfs mounted in a private mount namespace (`unshare -m` as
root, `unshare -rm` in a user namespace otherwise), so nothing is left mounted when a test dies. Where no
namespace can be made (CI runners that forbid unprivileged user namespaces) the same steps run on the
test's folder under RLIMIT_FSIZE, so writes past the limit fail with EFBIG, the errno of a file-size
quota: a real failing write either way, never a skipped test. `MECHANISM` says which one runs.
"""
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
ENV.pop("NAUTILUS_DEBUG", None)

# The tiny images and configs of the trainer's own tests (tests/trainer/conftest.py), loaded by path.
_spec = importlib.util.spec_from_file_location("trainer_tiny", REPO / "tests/trainer/conftest.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float = 0.0


def trainer(module: str, *args, timeout: float = 180, cwd: Path = REPO) -> Run:
    """python -m trainer.<module> args..., as a child process."""
    start = time.perf_counter()
    proc = subprocess.run([PYTHON, "-m", f"trainer.{module}", *map(str, args)], capture_output=True, cwd=cwd,
                          env=ENV, timeout=timeout)
    return Run(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"),
               time.perf_counter() - start)


def refused(run: Run, *expected: str, code: int = 2) -> str:
    """run ended with `code` and a last stderr line `error: <what>; <fix>` holding every expected text; the
    lines before it (if any) are warnings, and nothing is a traceback."""
    assert "Traceback" not in run.err + run.out, run.err
    assert run.code == code, (run.code, run.err[-2000:])
    lines = run.err.splitlines()
    assert lines and lines[-1].startswith("error: ") and "; " in lines[-1], run.err
    assert sum(line.startswith("error: ") for line in lines) == 1, run.err
    assert all(line.startswith(("error: ", "warning: ")) for line in lines), run.err
    for text in expected:
        assert text in lines[-1], lines[-1]
    return lines[-1]


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under folder (hidden ones too) with a hash of each file's content."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(Path(folder).rglob("*"))} if Path(folder).exists() else {}


def tiny_run(tmp_path: Path, **sections) -> tuple[Path, Path]:
    """(dataset folder, train.yaml) of the trainer tests' tiny CycleGAN: 4 A and 3 B images."""
    data = tmp_path / "h2z"
    if not data.exists():
        tiny.make_images(data / "trainA", 4, 20, 1, "png")
        tiny.make_images(data / "trainB", 3, 24, 2, "jpg")
        tiny.make_images(data / "testA", 2, 20, 3, "png")
    return data, tiny.write_config(tmp_path / "train.yaml", data, **sections)


# --- a volume with little free space -------------------------------------------------------------------------

def _namespace_prefix() -> list[str]:
    return ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]


def _detect() -> str:
    probe = Path(f"/tmp/.nautilus-tmpfs-probe-{os.getpid()}")
    probe.mkdir(exist_ok=True)
    try:
        ok = shutil.which("unshare") and subprocess.run(
            [*_namespace_prefix(), "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
            capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    probe.rmdir()
    return "tmpfs" if ok else "fsize"


MECHANISM = os.environ.get("NAUTILUS_TEST_VOLUME") or _detect()  # =fsize tries the fallback where tmpfs works
FILLER = ".filler"


class SmallVolume:
    """A volume at `path` on which `run(steps)` runs commands one after another, then copies what is on it to
    `after` (the tmpfs is gone once the namespace ends). A step is (argv, free): with free set (bytes), the
    volume has only that much room while the step runs."""

    def __init__(self, tmp_path: Path, size_mib: int = 64, read_only: bool = False):
        self.path, self.after, self.size, self.read_only = tmp_path / "vol", tmp_path / "after", size_mib, read_only
        self.plan, self.results = tmp_path / "plan.json", tmp_path / "results.json"
        self.path.mkdir()
        self.seed = tmp_path / "seed"  # copied onto the volume first

    def run(self, steps: list[tuple[list, int | None]], timeout: float = 300) -> list[Run]:
        self.plan.write_text(json.dumps({"mechanism": MECHANISM, "volume": str(self.path), "after": str(self.after),
                                         "seed": str(self.seed), "results": str(self.results),
                                         "steps": [[list(map(str, argv)), free] for argv, free in steps]}))
        driver = [PYTHON, __file__, str(self.plan)]
        if MECHANISM == "tmpfs":
            mount = (f"mount -t tmpfs -o size={self.size}m tmpfs {self.path} && "
                     + (f"mount -o remount,ro {self.path} && " if self.read_only else "") + "exec \"$@\"")
            driver = [*_namespace_prefix(), "sh", "-c", mount, "sh", *driver]
        elif self.read_only:
            self.path.chmod(0o555)  # not root here (root gets the namespace): permissions bind
        subprocess.run(driver, check=True, env=ENV, cwd=REPO, timeout=timeout)
        return [Run(**r) for r in json.loads(self.results.read_text())]


def _drive(plan: dict) -> None:
    """Inside the namespace (or under RLIMIT_FSIZE): seed, run each step, copy the volume out."""
    import resource
    import signal

    volume = Path(plan["volume"])
    if Path(plan["seed"]).exists() and os.access(volume, os.W_OK):
        shutil.copytree(plan["seed"], volume, dirs_exist_ok=True, symlinks=True)
    results = []
    for argv, free in plan["steps"]:
        limit = None
        if free is not None and plan["mechanism"] == "tmpfs":
            _fill(volume, free)
        elif free is not None:
            limit = free

        def limited(limit=limit):
            if limit is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, cwd=REPO, env=ENV, preexec_fn=limited, timeout=240)
        results.append({"code": proc.returncode, "out": proc.stdout.decode(errors="replace"),
                        "err": proc.stderr.decode(errors="replace"), "seconds": time.perf_counter() - start})
    if os.access(volume, os.W_OK):
        (volume / FILLER).unlink(missing_ok=True)
    shutil.copytree(volume, plan["after"], symlinks=True)
    Path(plan["results"]).write_text(json.dumps(results))


def _fill(volume: Path, free: int) -> None:
    """Grow the filler file until the volume has `free` bytes left (tmpfs allocates whole pages)."""
    filler = volume / FILLER
    have = shutil.disk_usage(volume).free
    size = (filler.stat().st_size if filler.exists() else 0) + have - free
    with open(filler, "ab") as f:
        f.truncate(max(0, size))
        os.posix_fallocate(f.fileno(), 0, max(1, size))


if __name__ == "__main__":
    _drive(json.loads(Path(sys.argv[1]).read_text()))
