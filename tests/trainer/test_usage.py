"""trainer.usage on fake cgroup trees (real files in a temp folder, v2 and v1) and injected GPU readings:
the log lines, the JSON summary and the band warnings for in-band, below-band and above-band use."""
import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import REPO
from trainer import usage
from trainer.errors import UsageError
from trainer.usage import GI, Cgroup, Monitor, Requests

POLICY = YAML(typ="safe").load((REPO / "schemas/policy.yaml").read_text())
SCHEMA = json.loads((REPO / "schemas/train-config.schema.json").read_text())


class FakeCgroup:
    """A cgroup folder the test writes to between samples, as the kernel would."""

    def __init__(self, root: Path, version: int, membership: str = "0::/\n"):
        self.root, self.version = root, version
        if version == 2:
            (root / "cgroup.controllers").parent.mkdir(parents=True, exist_ok=True)
            (root / "cgroup.controllers").write_text("cpu memory\n")
        else:
            (root / "cpu,cpuacct").mkdir(parents=True)
            (root / "memory").mkdir()
        self.cgroup = Cgroup(root, membership)
        self.cpu = 0.0

    def set(self, cpu_seconds: float, memory: int, peak: int | None = None) -> None:
        self.cpu = cpu_seconds
        if self.version == 2:
            (self.root / "cpu.stat").write_text(f"usage_usec {int(cpu_seconds * 1e6)}\nuser_usec 1\nsystem_usec 2\n")
            (self.root / "memory.current").write_text(f"{memory}\n")
            (self.root / "memory.peak").write_text(f"{peak or memory}\n")
        else:
            (self.root / "cpu,cpuacct" / "cpuacct.usage").write_text(f"{int(cpu_seconds * 1e9)}\n")
            (self.root / "memory" / "memory.usage_in_bytes").write_text(f"{memory}\n")
            (self.root / "memory" / "memory.max_usage_in_bytes").write_text(f"{peak or memory}\n")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def run(tmp_path, version, cpu_cores, memory, gpu=None, requests=None, container="train", minutes=12, peak=None):
    """Sample every 5 s for `minutes` of steady use; return (monitor, log lines, summary)."""
    fake, clock, lines = FakeCgroup(tmp_path / "cg", version), Clock(), []
    requests = requests or Requests(cpu=4, memory=16 * GI, cpu_limit=4.4, memory_limit=int(17.6 * GI), project="h2z", stage="train")
    monitor = Monitor(container, requests, cgroup=fake.cgroup, gpus=(lambda: gpu) if gpu else None,
                      path=tmp_path / "runs/h2z/usage.json", log=lines.append, every=300, clock=clock)
    for _ in range(minutes * 12 + 1):
        fake.set(fake.cpu + cpu_cores * 5 * (clock.now > 1000), memory, peak)
        monitor.sample()
        clock.now += 5
    clock.now -= 5
    return monitor, lines, monitor.stop()


def warnings(lines):
    return [line for line in lines if line.startswith("warning:")]


def test_bands_mirror_policy_yaml():
    bands = POLICY["utilisation"]
    assert usage.BANDS == {"cpu": tuple(bands["cpu_percent"]), "memory": tuple(bands["memory_percent"])}
    assert usage.GPU_FLOOR == bands["gpu_min_percent"] == SCHEMA["properties"]["log"]["properties"]["gpu_util_floor"]["default"]
    assert usage.EXEMPT_CPU == POLICY["requests"]["exempt_cpu"]
    assert usage.EXEMPT_MEMORY == 2 * GI and POLICY["requests"]["exempt_memory"] == "2Gi"


@pytest.mark.parametrize("version", [2, 1])
def test_in_band_run_logs_summaries_and_no_warning(tmp_path, version):
    monitor, lines, summary = run(tmp_path, version, cpu_cores=2.0, memory=8 * GI, gpu=[90.0, 80.0])
    assert not warnings(lines)
    periodic = [l for l in lines if l.startswith("usage train (last 5m00s)")]
    assert len(periodic) == 2  # 12 minutes at a 5-minute interval
    assert periodic[0] == ("usage train (last 5m00s): cpu 2.00 cores = 50% of 4 (band 20-200%) | memory 8.0GiB = 50% of "
                           "16.0GiB (band 20-150%), peak 8.0GiB | gpu 85% mean of 2 (floor 40%)")
    assert lines[-1].startswith("usage train (whole run 12m00s): cpu 2.00 cores = 50% of 4")
    assert summary["cgroup"]["version"] == version
    assert summary["cpu"] == {"mean_cores": 2.0, "percent_of_request": 50.0, "band_percent": [20, 200]}
    assert summary["memory"]["peak_bytes"] == 8 * GI and summary["memory"]["mean_percent_of_request"] == 50.0
    assert summary["gpu"] == {"count": 2, "mean_percent": 85.0, "floor_percent": 40}
    assert summary["warnings"] == [] and summary["seconds"] == 720
    assert json.loads((tmp_path / "runs/h2z/usage.json").read_text()) == summary
    assert monitor.recent_gpu() == 85.0 and monitor.recent_gpu() is None  # the progress line's figure, once


@pytest.mark.parametrize("version", [2, 1])
def test_below_band_warns_once_with_the_file_and_value(tmp_path, version):
    monitor, lines, summary = run(tmp_path, version, cpu_cores=0.5, memory=2 * GI, gpu=[20.0])
    found = warnings(lines)
    assert len(found) == 3 and summary["warnings"] == found  # each band once, though it stays outside
    cpu, memory, gpu = sorted(found, key=lambda w: ["CPU", "memory", "GPU"].index(w.split()[2]))
    assert cpu == ("warning: usage: CPU use 0.50 cores averaged over the last 10m00s is 12% of the 4-core request, under "
                   "NRP's 20-200% band by 8 points; lower `cpu` of the train container of Job train in "
                   "overlays/h2z/resources.yaml to 700m (and its limit to 770m)")
    assert memory == ("warning: usage: memory use 2.0GiB averaged over the last 10m00s is 12% of the 16.0GiB request, "
                      "under NRP's 20-150% band by 8 points; lower `memory` of the train container of Job train in "
                      "overlays/h2z/resources.yaml to 3Gi (and its limit to 3379Mi)")
    assert gpu.startswith("warning: usage: GPU utilisation 20% averaged over the last 10m00s on 1 GPU(s) is under NRP's "
                          "40% floor by 20 points; raise train.batch_size (or train.workers) in overlays/h2z/train.yaml")


def test_above_band_says_raise(tmp_path):
    requests = Requests(cpu=1.5, memory=4 * GI, project="p", stage="data")  # no limits: use can pass the request
    _, lines, _ = run(tmp_path, 2, cpu_cores=3.5, memory=7 * GI, requests=requests, container="data")
    cpu, memory = warnings(lines)
    assert cpu.endswith("is 233% of the 1500m-core request, over NRP's 20-200% band by 33 points; raise `cpu` of the data "
                        "container of Job data (base/data/job.yaml; change it with a patch in overlays/p/) to 5")
    assert memory.endswith("is 175% of the 4.0GiB request, over NRP's 20-150% band by 25 points; raise `memory` of the data "
                           "container of Job data (base/data/job.yaml; change it with a patch in overlays/p/) to 9Gi")


def test_a_peak_that_needs_the_request_is_not_cut(tmp_path):
    _, lines, _ = run(tmp_path, 2, cpu_cores=2, memory=2 * GI, peak=15 * GI)
    (memory,) = warnings(lines)
    assert "its peak of 15.0GiB needs `memory` of the train container" in memory and " to " not in memory.split(";")[-1]


def test_a_short_excursion_is_not_a_warning(tmp_path):
    _, lines, _ = run(tmp_path, 2, cpu_cores=0.2, memory=8 * GI, minutes=9)  # under the 10-minute window
    assert not warnings(lines)


def test_exempt_pods_and_unknown_requests_never_warn(tmp_path):
    _, lines, summary = run(tmp_path, 2, cpu_cores=0.01, memory=GI // 10, requests=Requests(cpu=1, memory=2 * GI))
    assert not warnings(lines) and summary["exempt"] and "exempt from NRP's bands" in lines[-1]
    (tmp_path / "cg").rename(tmp_path / "cg-old")
    _, lines, summary = run(tmp_path, 1, cpu_cores=0.01, memory=GI // 10, requests=Requests())
    assert not warnings(lines) and "requests unknown" in lines[-1] and summary["cpu"]["percent_of_request"] is None


def test_requests_from_the_downward_api_environment():
    env = {"NAUTILUS_CPU_REQUEST": "2500", "NAUTILUS_CPU_LIMIT": "2750", "NAUTILUS_MEMORY_REQUEST": str(8 * GI),
           "NAUTILUS_MEMORY_LIMIT": str(9 * GI), "NAUTILUS_PROJECT": "h2z", "NAUTILUS_STAGE": "train"}
    assert Requests.from_env(env) == Requests(2.5, 8 * GI, 2.75, 9 * GI, "h2z", "train")
    assert Requests.from_env({"NAUTILUS_CPU_REQUEST": "0", "NAUTILUS_MEMORY_REQUEST": ""}) == Requests()
    for bad in ("x", "²", "-1", "9" * 5000):  # one line naming the variable (tests/hostile/test_numbers.py)
        with pytest.raises(UsageError, match="NAUTILUS_MEMORY_REQUEST"):
            Requests.from_env({"NAUTILUS_MEMORY_REQUEST": bad})


def test_cgroup_folders_follow_the_process_membership(tmp_path):
    v1 = tmp_path / "v1"
    (v1 / "memory/kubepods/pod1").mkdir(parents=True)
    (v1 / "cpuacct").mkdir()
    cg = Cgroup(v1, "4:memory:/kubepods/pod1\n2:cpuacct:/gone\n")  # a path absent under the mount: its root
    assert (cg.version, cg.memory_dir, cg.cpu_dir) == (1, v1 / "memory/kubepods/pod1", v1 / "cpuacct")
    v2 = tmp_path / "v2"
    (v2 / "kubepods/c1").mkdir(parents=True)
    (v2 / "cgroup.controllers").write_text("cpu memory\n")
    (v2 / "kubepods/c1/cpu.stat").write_text("usage_usec 2500000\n")
    (v2 / "kubepods/c1/memory.current").write_text("1024\n")
    cg = Cgroup(v2, "0::/kubepods/c1\n")
    assert cg.cpu_seconds() == 2.5 and cg.memory() == (1024, None)  # no memory.peak before Linux 5.19
    assert Cgroup(tmp_path / "none", "").cpu_seconds() is None


def test_the_thread_samples_on_its_own(tmp_path):
    fake, lines = FakeCgroup(tmp_path / "cg", 2), []
    fake.set(1.0, GI)
    monitor = Monitor("prepare", Requests(), cgroup=fake.cgroup, gpus=None, log=lines.append, interval=0.01).start()
    import time
    time.sleep(0.2)
    summary = monitor.stop()
    assert summary["samples"] >= 5 and lines[-1].startswith("usage prepare (whole run 0m00s): cpu 0.00 cores | memory 1.0GiB")
