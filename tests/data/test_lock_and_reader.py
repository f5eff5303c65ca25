"""The cross-node lock, the reader's checks and the pod's CPU count."""
import os
import threading
import time

import pytest

from trainer.errors import UsageError
from trainer.prepare import prepare
from trainer.cpus import available_cpus, cgroup_quota
from trainer.prepare.publish import Lock
from trainer.prepare.source import Spec
from trainer.shards import open_split, resolve


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
