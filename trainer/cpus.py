"""How many CPUs this container was given: the cgroup quota, not the node's core count (os.cpu_count()).

A pod asking for 4 CPUs on a 64-core node sees 64 cores; sizing threads or DataLoader workers by them
oversubscribes the quota and the kernel throttles the whole pod.
"""
from __future__ import annotations

import os
from pathlib import Path


def available_cpus(cgroup: Path = Path("/sys/fs/cgroup")) -> float:
    """The quota (may be fractional, e.g. 2.5), capped by the CPUs this process may run on."""
    usable = len(os.sched_getaffinity(0))
    quota = cgroup_quota(cgroup)
    return min(usable, quota) if quota else usable


def cgroup_quota(cgroup: Path) -> float | None:
    """CPUs allowed by the limit (cgroup v2 cpu.max, else v1 cfs quota); None when unlimited."""
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
    return int(quota) / int(period)
