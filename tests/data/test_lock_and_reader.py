"""The cross-node lock, its atomic publication, the reader's checks and the pod's CPU count.

The lock file names its holder (`host pid beat`); the holder rewrites it every stale_after/6 seconds. A waiter
waits while the content changes, breaks the lock when it stays the same for stale_after seconds or at once
when the holder is a dead process on this host, and never breaks or signals a live one."""
import os
import platform
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from trainer.errors import UsageError
from trainer.prepare import prepare
from trainer.cpus import available_cpus, cgroup_quota
from trainer.prepare.publish import Busy, Lock, _remove_if_same, new_version_name, publish
from trainer.prepare.source import Spec
from trainer.shards import LATEST, open_split, resolve

from .support import REPO

HOST = socket.gethostname()
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
       "OMP_NUM_THREADS": "1"}


def test_a_lock_without_heartbeat_is_broken_after_stale_after(tmp_path):
    lock = tmp_path / ".lock"
    lock.write_text("other-node 123 000000000004\n")  # a holder on another node that stopped beating
    lines, started = [], time.monotonic()
    with Lock(lock, stale_after=0.3, poll=0.05, log=lines.append):
        assert "breaking a stale lock" in lines[-1]
    assert 0.3 <= time.monotonic() - started < 5 and not lock.exists()


def test_a_beating_lock_is_waited_for(tmp_path):
    lock, order = tmp_path / ".lock", []

    def hold():
        with Lock(lock, stale_after=0.3, poll=0.02, log=lambda _: None):
            order.append("first in")
            time.sleep(1.0)  # over three stale_after periods: only the heartbeat keeps it
            order.append("first out")

    holder = threading.Thread(target=hold)
    holder.start()
    while not order:
        time.sleep(0.01)
    with Lock(lock, stale_after=0.3, poll=0.02, log=lambda _: None):
        order.append("second in")
    holder.join()
    assert order == ["first in", "first out", "second in"]


def test_resolve_reports_missing_and_damaged_datasets(dataset, tmp_path):
    with pytest.raises(UsageError, match="dataset 'ds' is not prepared.*run the data Job"):
        resolve(tmp_path, "ds")
    version = prepare(Spec("ds", path=str(dataset), load_size=8), tmp_path, log=lambda _: None)
    with pytest.raises(UsageError, match="unknown split"):
        open_split(version, "valA")
    shard = version / "shards" / "trainB.npy"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert resolve(tmp_path, "ds") == version  # sizes match: the cheap check passes
    with pytest.raises(UsageError, match="trainB.npy does not match the manifest"):
        resolve(tmp_path, "ds", hashes=True)
    # the next preparer notices and publishes a good version instead of trusting the damaged one
    lines = []
    rebuilt = prepare(Spec("ds", path=str(dataset), load_size=8), tmp_path, log=lines.append)
    assert rebuilt != version and resolve(tmp_path, "ds", hashes=True) == rebuilt
    assert any("unusable" in line for line in lines)


@pytest.mark.parametrize("text, cpus", [("max 100000\n", None), ("250000 100000\n", 2.5), ("100000 100000\n", 1)])
def test_cgroup_v2_quota(tmp_path, text, cpus):
    (tmp_path / "cpu.max").write_text(text)
    assert cgroup_quota(tmp_path) == cpus


def test_cgroup_v1_quota_and_no_cgroup(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("150000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_quota(tmp_path) == 1.5
    assert available_cpus(tmp_path / "absent") == len(os.sched_getaffinity(0))


def holder_line(beat: int) -> str:
    return f"{HOST} {os.getpid()} {beat:012d}\n"


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_held_lock_names_its_holder_and_release_leaves_nothing(tmp_path):
    path, lines = tmp_path / ".lock", []
    fds, threads = open_fds(), set(threading.enumerate())
    with Lock(path, stale_after=60, log=lines.append):
        assert path.read_text() == holder_line(0)  # written before the body runs, not a heartbeat later
        assert stat.S_IMODE(path.stat().st_mode) == 0o644 & ~umask()  # readable by the other pods' users
    assert not path.exists() and lines == []
    for _ in range(100):  # the heartbeat thread ends at its next wake-up
        if set(threading.enumerate()) == threads:
            break
        time.sleep(0.05)
    assert open_fds() == fds and set(threading.enumerate()) == threads  # no descriptor, no heartbeat left


def test_the_heartbeat_stops_at_release(tmp_path):
    """After release the heartbeat never writes again, even into a file that reuses the lock's descriptor."""
    with Lock(tmp_path / ".lock", stale_after=0.3, log=lambda _: None) as lock:
        time.sleep(0.2)
        fd = lock.fd
    other = tmp_path / "other"
    reused = os.open(other, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        os.write(reused, b"mine\n")
        time.sleep(0.25)  # five heartbeat periods
        assert other.read_bytes() == b"mine\n", (fd, reused)
    finally:
        os.close(reused)


def test_the_heartbeat_beats_six_times_per_stale_after(tmp_path):
    """Often enough that a waiter sees the content change well within stale_after; no more often, since each
    beat is a write and an fsync on the shared filesystem."""
    path = tmp_path / ".lock"
    start = time.monotonic()
    with Lock(path, stale_after=1.2, log=lambda _: None):
        time.sleep(2.1)
        beat = int(path.read_text().split()[-1])
        elapsed = time.monotonic() - start
    assert 2 <= beat <= elapsed / 0.2, (beat, elapsed)


def hold(path: Path, seconds: float, stale_after: float, entered: threading.Event):
    def run():
        with Lock(path, stale_after=stale_after, log=lambda _: None):
            entered.set()
            time.sleep(seconds)
    thread = threading.Thread(target=run)
    thread.start()
    assert entered.wait(10)
    return thread


def test_a_waiter_says_so_once_and_looks_about_once_a_second(tmp_path):
    """The default poll: a waiter looks about once a second, and takes the lock soon after its release."""
    path, lines, entered = tmp_path / ".lock", [], threading.Event()
    holder = hold(path, 0.3, 0.6, entered)
    start = time.monotonic()
    with Lock(path, stale_after=0.6, log=lines.append):
        waited = time.monotonic() - start
    holder.join()
    assert 0.9 < waited < 1.9, waited
    assert lines == [f"prepare: waiting for another preparer ({holder_line(0).strip()})"], lines


def test_busy_when_told_not_to_wait_for_a_live_holder(tmp_path):
    path, entered = tmp_path / ".lock", threading.Event()
    holder = hold(path, 1.0, 0.6, entered)
    start = time.monotonic()
    with pytest.raises(Busy) as busy:
        with Lock(path, stale_after=0.6, poll=0.02, log=lambda _: None, wait_for_live=False):
            pass
    assert time.monotonic() - start < 0.6  # one beat shows it is alive: no need to wait stale_after
    assert re.fullmatch(rf"{HOST} {os.getpid()} \d{{12}}", str(busy.value))
    assert path.exists()  # the holder's lock is left alone
    holder.join()


def test_a_stale_lock_is_broken_even_when_told_not_to_wait(tmp_path):
    path, lines = tmp_path / ".lock", []
    path.write_text("other-node 123 000000000004\n")
    start = time.monotonic()
    with Lock(path, stale_after=0.3, poll=0.02, log=lines.append, wait_for_live=False):
        assert path.read_text() == holder_line(0)
    assert time.monotonic() - start >= 0.3
    assert lines == ["prepare: waiting for another preparer (other-node 123 000000000004)",
                     "prepare: breaking a stale lock (other-node 123 000000000004)"]
    assert list(tmp_path.iterdir()) == []


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_preparer_that_dies_holding_the_lock_is_broken_at_once(tmp_path):
    """A process that ends without releasing (killed, or never left the lock) still exits; on the same host
    the next preparer sees that its holder is dead and takes the lock without waiting stale_after."""
    path, lines = tmp_path / ".lock", []
    script = "import sys\nfrom trainer.prepare.publish import Lock\nLock(sys.argv[1], stale_after=60).__enter__()\n"
    proc = subprocess.run([sys.executable, "-c", script, str(path)], cwd=REPO, env=ENV, capture_output=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    content = path.read_text()
    assert re.fullmatch(rf"{HOST} \d+ 000000000000\n", content)
    start = time.monotonic()
    with Lock(path, stale_after=60, poll=0.05, log=lines.append):
        assert time.monotonic() - start < 5
    assert lines == [f"prepare: waiting for another preparer ({content.strip()})",
                     f"prepare: breaking a stale lock ({content.strip()})"]


@pytest.mark.parametrize("holder", ["a live process here", "a pid that is not a number", "a dead pid elsewhere"])
def test_a_holder_not_known_dead_is_waited_for_until_stale(tmp_path, holder):
    path, lines = tmp_path / ".lock", []
    live = subprocess.Popen(["sleep", "30"], preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    try:
        content = {"a live process here": f"{HOST} {live.pid} 000000000003\n",
                   "a pid that is not a number": f"{HOST} abc 000000000003\n",
                   "a dead pid elsewhere": f"other-node {dead_pid()} 000000000003\n"}[holder]
        path.write_text(content)
        start = time.monotonic()
        with Lock(path, stale_after=0.5, poll=0.05, log=lines.append):
            assert time.monotonic() - start >= 0.5
        assert live.poll() is None  # a live holder is never signalled
        assert lines[-1] == f"prepare: breaking a stale lock ({content.strip()})"
    finally:
        live.kill()
        live.wait()


def test_a_holder_of_another_user_is_taken_as_alive():
    """kill(pid, 0) fails with EPERM for another user's process: alive, so only stale_after breaks it."""
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o777)
        path = Path(folder) / ".lock"
        path.write_text(f"{HOST} 1 000000000001\n")  # pid 1 is not ours (root's init)
        os.chmod(path, 0o666)
        child = os.fork() if os.geteuid() == 0 else None
        if child == 0:  # as root: the check runs in a child that drops to nobody
            code = 1
            try:
                os.setgid(65534)
                os.setuid(65534)
                start = time.monotonic()
                with Lock(path, stale_after=0.5, poll=0.05, log=lambda _: None):
                    code = 0 if time.monotonic() - start >= 0.5 else 3
            finally:
                os._exit(code)
        if child is None:
            start = time.monotonic()
            with Lock(path, stale_after=0.5, poll=0.05, log=lambda _: None):
                assert time.monotonic() - start >= 0.5
        else:
            _, status = os.waitpid(child, 0)
            assert os.waitstatus_to_exitcode(status) == 0


def test_a_breaker_that_read_the_stale_content_late_leaves_the_successor_alone(tmp_path):
    """Another waiter may have broken the lock and taken it since this one read the stale content: the
    content differs, and the successor's lock stays, with nothing left beside it."""
    path = tmp_path / ".lock"
    path.write_text("node-b 7 000000000000\n")
    _remove_if_same(path, "node-a 5 000000000009\n")
    assert path.read_text() == "node-b 7 000000000000\n" and list(tmp_path.iterdir()) == [path]
    _remove_if_same(path, "node-b 7 000000000000\n")
    assert list(tmp_path.iterdir()) == []
    _remove_if_same(path, "node-b 7 000000000000\n")  # already broken by another waiter: nothing to do
    assert list(tmp_path.iterdir()) == []


def test_a_lock_broken_and_taken_by_a_successor_is_not_removed_by_the_old_holder(tmp_path):
    path = tmp_path / ".lock"
    first = Lock(path, stale_after=60, log=lambda _: None).__enter__()
    path.unlink()  # what a waiter does when it judges the first holder stale
    with Lock(path, stale_after=60, log=lambda _: None):
        first.__exit__(None, None, None)
        assert path.read_text() == holder_line(0)  # the successor's lock is still there
    assert not path.exists()


def test_a_full_volume_holds_the_lock_empty_until_there_is_room(tmp_path):
    """No room to write the holder line (a dead preparer's build filled the volume): the lock is still held,
    empty, and the heartbeat writes it once there is room."""
    script = """
import resource, sys, time
from trainer.prepare.publish import Lock
path = sys.argv[1]
resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))  # writes fail with EFBIG
with Lock(path, stale_after=0.3, log=print):
    print(repr(open(path).read()), flush=True)
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    time.sleep(0.3)
    print(repr(open(path).read()), flush=True)
"""
    path = tmp_path / ".lock"
    proc = subprocess.run([sys.executable, "-c", script, str(path)], cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (0, "")
    empty, written = proc.stdout.splitlines()
    assert empty == "''"
    assert re.fullmatch(rf"'{HOST} \d+ 0000000000\d\d\\n'", written), written
    assert not path.exists()


SECCOMP = {"x86_64": (0xC000003E, 74), "aarch64": (0xC00000B7, 82)}  # audit arch, the fsync syscall number


@pytest.mark.skipif(platform.machine() not in SECCOMP, reason="the fsync syscall number of this machine is not listed")
def test_a_lock_that_cannot_be_written_is_not_held(tmp_path):
    """A write error other than a full volume (here fsync failing with EIO, made by a seccomp filter in the
    child): the error is raised, and the lock file is removed rather than left to look held."""
    arch, fsync = SECCOMP[platform.machine()]
    script = f"""
import ctypes, errno, sys
from trainer.prepare.publish import Lock
class Op(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]
class Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("ops", ctypes.POINTER(Op))]
ops = (Op * 6)(Op(0x20, 0, 0, 4), Op(0x15, 0, 3, {arch}), Op(0x20, 0, 0, 0), Op(0x15, 0, 1, {fsync}),
               Op(0x06, 0, 0, 0x00050000 | errno.EIO), Op(0x06, 0, 0, 0x7FFF0000))  # fsync: EIO; the rest: allowed
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(38, 1, 0, 0, 0) == 0 and libc.prctl(22, 2, ctypes.byref(Program(6, ops)), 0, 0) == 0
try:
    with Lock(sys.argv[1], stale_after=60, log=print):
        print("held")
except OSError as e:
    print("refused", errno.errorcode[e.errno])
"""
    path = tmp_path / ".lock"
    proc = subprocess.run([sys.executable, "-c", script, str(path)], cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "refused EIO\n", "")
    assert not path.exists()


def test_version_names_are_utc_seconds_suffixed_when_taken(tmp_path):
    name = new_version_name(tmp_path)
    assert re.fullmatch(r"\d{8}T\d{6}Z", name)
    assert abs(time.mktime(time.strptime(name, "%Y%m%dT%H%M%SZ")) - time.mktime(time.gmtime())) < 5
    now = time.time()
    seconds = [time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now + d)) for d in range(-1, 6)]
    for stamp in seconds:
        (tmp_path / stamp).mkdir()
    name = new_version_name(tmp_path)
    assert name.endswith("-2") and name[:-2] in seconds
    for stamp in seconds:
        (tmp_path / f"{stamp}-2").mkdir()
    name = new_version_name(tmp_path)
    assert name.endswith("-3") and name[:-2] in seconds


def test_publish_moves_the_build_into_place_and_points_latest_at_it(tmp_path):
    folder = tmp_path / "datasets" / "ds"
    for version in ("v1", "v2"):
        build = folder / f".build-{version}"
        (build / "shards").mkdir(parents=True)
        (build / "manifest.json").write_text(f'{{"version": "{version}"}}\n')
        assert publish(build, folder, version) == folder / version
        assert not build.exists()
        assert (folder / version / "manifest.json").read_text() == f'{{"version": "{version}"}}\n'
        assert (folder / LATEST).read_text() == f"{version}\n"
    assert sorted(p.name for p in folder.iterdir()) == [LATEST, "v1", "v2"]


@pytest.mark.skipif(not shutil.which("strace"), reason="strace is not installed")
def test_publish_flushes_the_build_before_the_rename_and_the_rename_before_latest(tmp_path):
    """Durability order, read off the real syscalls (strace): the build folder's entries reach the disk
    before it is renamed into place, and that rename before LATEST names it, so a node that loses power
    never leaves LATEST pointing at a folder the disk does not hold."""
    folder, trace = tmp_path / "ds", tmp_path / "trace"
    build = folder / ".build-v1"
    (build / "shards").mkdir(parents=True)
    script = "import sys; from pathlib import Path; from trainer.prepare.publish import publish; " \
             "publish(Path(sys.argv[1]), Path(sys.argv[2]), 'v1')"
    subprocess.run(["strace", "-f", "-y", "-o", str(trace), "-e", "trace=fsync,rename,renameat,renameat2",
                    sys.executable, "-c", script, str(build), str(folder)], cwd=REPO, env=ENV, check=True, timeout=60)
    calls = [line for line in trace.read_text().splitlines() if re.search(r"\b(fsync|rename\w*)\(", line)]

    def first(pattern: str) -> int:
        return next(i for i, line in enumerate(calls) if re.search(pattern, line))
    build_synced = first(rf"fsync\(\d+<{re.escape(str(build))}>\)")
    moved = first(rf"rename\w*\(.*{re.escape(str(build))}\".*{re.escape(str(folder / 'v1'))}\"")
    folder_synced = first(rf"fsync\(\d+<{re.escape(str(folder))}>\)")
    latest = first(rf"rename\w*\(.*{re.escape(str(folder / LATEST))}\"")
    assert build_synced < moved < folder_synced < latest, calls


@pytest.mark.skipif(not shutil.which("strace"), reason="strace is not installed")
def test_the_holder_line_reaches_the_disk_before_the_work_starts(tmp_path):
    """The holder's line is written and flushed (strace: pwrite, then fsync of the lock) before the body runs,
    so a waiter on another node reads who holds it even after the holder's node lost power."""
    path, trace = tmp_path / ".lock", tmp_path / "trace"
    script = "import sys; from trainer.prepare.publish import Lock\n" \
             "with Lock(sys.argv[1], stale_after=60, log=print):\n    print('body', flush=True)"
    proc = subprocess.run(["strace", "-f", "-y", "-o", str(trace), "-e", "trace=pwrite64,fsync,write",
                           sys.executable, "-c", script, str(path)], cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "body\n"), proc.stderr
    calls = [line for line in trace.read_text().splitlines() if re.search(r"\b(pwrite64|fsync|write)\(", line)]
    lock = re.escape(str(path))
    written = next(i for i, line in enumerate(calls) if re.search(rf"pwrite64\(\d+<{lock}>", line))
    synced = next(i for i, line in enumerate(calls) if re.search(rf"fsync\(\d+<{lock}>", line))
    body = next(i for i, line in enumerate(calls) if re.search(r"write\(1<.*>, \"body", line))
    assert written < synced < body, calls


def test_the_heartbeat_counts_up_from_the_first_line(tmp_path):
    """The line written on taking the lock says beat 0; each heartbeat after it counts one up, so the
    holder's line changes at every beat and says how long it has held the lock."""
    path = tmp_path / ".lock"
    with Lock(path, stale_after=0.6, log=lambda _: None):
        seen = [path.read_text()]
        deadline = time.monotonic() + 10
        while len(seen) < 3 and time.monotonic() < deadline:
            if (content := path.read_text()) != seen[-1]:
                seen.append(content)
            time.sleep(0.005)
    assert seen == [holder_line(0), holder_line(1), holder_line(2)]
