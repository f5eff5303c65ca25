"""How many CPUs this pod was given: the cgroup quota, not the node's core count (os.cpu_count())."""
from __future__ import annotations

import math
import os
from pathlib import Path


def available_cpus(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    usable = len(os.sched_getaffinity(0))
    quota = cgroup_quota(cgroup)
    return max(1, min(usable, quota)) if quota else usable


def cgroup_quota(cgroup: Path) -> int | None:
    """CPUs allowed by the limit (cgroup v2 cpu.max, else v1 cfs quota), rounded up; None when unlimited."""
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    if quota in ("max", "-1"):
        return None
    return math.ceil(int(quota) / int(period))
