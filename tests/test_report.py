"""`nautilus report`: cells of a known overlay, totals, and before -> after against a git ref."""
import subprocess

import pytest

from validate.support import copy_project, load_yaml, run, run_json, write_yaml

JOB_AFTER = {
    "stage": "train", "kind": "Job", "name": "demo-train", "gpus": "2", "gpu_type": "nvidia.com/gpu (NVIDIA-A10)",
    "cpu": "8 / 8800m", "memory": "32Gi / 35Gi", "shm": "8Gi", "ephemeral": "20Gi / 22Gi", "storage": "-",
    "pods": "1", "max_runtime": "1d", "gpu_hours": "48",
}
JOB_BEFORE = {**JOB_AFTER, "gpus": "1", "gpu_hours": "24"}
PVC = {
    "stage": "storage", "kind": "PersistentVolumeClaim", "name": "demo-storage", "gpus": "0", "gpu_type": "-",
    "cpu": "-", "memory": "-", "shm": "-", "ephemeral": "-", "storage": "50Gi rook-cephfs (ReadWriteMany)",
    "pods": "-", "max_runtime": "-", "gpu_hours": "0",
}
DEV_POD = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dev", "labels": {"nautilus.io/stage": "dev"}},
    "spec": {"activeDeadlineSeconds": 21600, "containers": [{"name": "dev", "image": "trainer", "command": ["sleep", "infinity"],
             "resources": {"requests": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"},
                           "limits": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"}}}]},
}


def git(repo, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo, check=True,
                   capture_output=True)


def status(repo) -> str:
    return subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git repository with two commits: the second gives the Job 2 GPUs, adds a dev Pod, drops the PVC."""
    copy_project(tmp_path)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "one GPU")
    job = load_yaml(tmp_path / "base/job.yaml")
    for side in ("requests", "limits"):
        job["spec"]["template"]["spec"]["containers"][0]["resources"][side]["nvidia.com/gpu"] = "2"
    write_yaml(tmp_path / "base/job.yaml", job)
    write_yaml(tmp_path / "base/dev.yaml", DEV_POD)
    (tmp_path / "base/kustomization.yaml").write_text("resources:\n  - job.yaml\n  - dev.yaml\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "two GPUs, a dev pod, no claim")
    (tmp_path / "untracked.txt").write_text("left alone\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cells_of_a_known_overlay(tmp_path):
    project = copy_project(tmp_path)
    code, report, _ = run_json("report", project / "overlays/demo")
    assert code == 0
    (overlay,) = report["overlays"]
    assert [w["after"] for w in overlay["workloads"]] == [PVC, JOB_BEFORE]
    assert overlay["totals"]["after"] == {"GPUs at once": "1", "CPU requested": "8", "memory requested": "32Gi",
                                          "storage": "50Gi", "worst-case GPU-h": "24"}
    assert overlay["findings"] == {"errors": 0, "warnings": 0}


def test_base_shows_before_and_after_per_cell(repo):
    before_status = status(repo)
    code, report, _ = run_json("report", "overlays/demo", "--base", "HEAD~1")
    assert code == 0
    assert status(repo) == before_status  # the working tree is untouched
    (overlay,) = report["overlays"]
    by_name = {(w["after"] or w["before"])["name"]: w for w in overlay["workloads"]}
    assert by_name["demo-train"] == {"change": "changed", "before": JOB_BEFORE, "after": JOB_AFTER}
    assert by_name["demo-storage"] == {"change": "removed", "before": PVC, "after": None}
    assert by_name["demo-dev"]["change"] == "new" and by_name["demo-dev"]["before"] is None
    assert by_name["demo-dev"]["after"]["gpu_hours"] == "6"  # 1 GPU x 21600 s
    assert report["totals"]["before"]["GPUs at once"] == "1"
    assert report["totals"]["after"]["GPUs at once"] == "3"


def test_base_markdown_table(repo):
    code, out, _ = run("report", "overlays/demo", "--base", "HEAD~1")
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| change | stage | kind | name | GPUs/pod |")
    assert "| **changed** | train | Job | demo-train | 1 → 2 | nvidia.com/gpu (NVIDIA-A10) |" in out
    assert "| 1d | 24 → 48 |" in out
    assert "| **new** | dev | Pod | demo-dev | 1 |" in out
    assert "| **removed** | ~~storage~~ | ~~PersistentVolumeClaim~~ | ~~demo-storage~~ |" in out
    assert "| GPUs at once | 1 | 3 |" in out
    assert "worst-case GPU-hours = GPUs per pod x pods at once" in out


def test_bad_ref_is_a_usage_error(repo):
    code, _, err = run("report", "overlays/demo", "--base", "no-such-ref")
    assert code == 2
    assert err.startswith("error: no-such-ref is not a commit of ")
