"""`nautilus report --usage FILE`: a run's measured use (a usage.json the trainer wrote) beside the requests it
ran with and the ones the overlay asks for now."""
import json

from kube_support import examples_repo, nautilus
from trainer.usage import GI, Cgroup, Monitor, Requests


def usage_json(tmp_path, cores: float, memory: int) -> str:
    """A usage.json as the trainer writes it, from a run of 10 minutes on a cgroup v2 tree in tmp_path,
    in the pod horse2zebra had before its resize (10 CPU, 20Gi)."""
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory\n")
    clock = [0.0]
    monitor = Monitor("train", Requests(cpu=10, memory=20 * GI, project="horse2zebra", stage="train"),
                      cgroup=Cgroup(root, "0::/\n"), gpus=lambda: [93.0], log=lambda line: None, clock=lambda: clock[0])
    for second in range(0, 601, 5):
        clock[0] = second
        (root / "cpu.stat").write_text(f"usage_usec {int(second * cores * 1e6)}\n")
        (root / "memory.current").write_text(f"{memory}\n")
        (root / "memory.peak").write_text(f"{memory}\n")
        monitor.sample()
    path = tmp_path / "usage.json"
    monitor.write(path)
    return str(path)


def test_measured_use_sits_beside_the_requests_then_and_now(tmp_path):
    used = usage_json(tmp_path, cores=1.05, memory=int(3.5 * GI))
    result = nautilus("report", examples_repo() / "overlays/horse2zebra", "--usage", used)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("| horse2zebra | train |"))
    # the run used 10% of its 10 CPU (under NRP's 20%); the overlay's 2 CPU now put it at 52%
    assert row == "| horse2zebra | train | 0.2 h | 1.05 | 10 → 2 | 10% → 52% | 3.5Gi / 3.5Gi | 20.0Gi → 7.0Gi | 18% → 50% | 93% | 2 |"
    data = json.loads(nautilus("report", examples_repo() / "overlays/horse2zebra", "--usage", used, "--format", "json").output)
    assert data["usage"][0]["request_now"] == {"cpu": 2.0, "memory": 7 * GI}


def test_a_file_that_is_not_a_usage_summary_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"cpu": 1}')
    result = nautilus("report", examples_repo() / "overlays/horse2zebra", "--usage", bad)
    assert result.exit_code == 2 and result.output.startswith(f"error: --usage {bad} is not a usage summary")
    result = nautilus("report", examples_repo() / "overlays/horse2zebra", "--usage", tmp_path / "missing.json")
    assert result.exit_code == 2 and "cannot read --usage" in result.output
