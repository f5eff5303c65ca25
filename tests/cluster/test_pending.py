"""Requests that no NRP node can meet: the train pod stays Pending with the scheduler's own reason, and
the project's tools had already said so before anything reached a cluster."""
import json
import subprocess
import sys
from pathlib import Path

from .overlays import derive
from .workloads import unschedulable_message, wait_for_pods

NAUTILUS = Path(sys.executable).with_name("nautilus")
NINE_GPUS = {"spec": {"template": {"spec": {"containers": [
    {"name": "train", "resources": {"requests": {"nvidia.com/gpu": "9"}, "limits": {"nvidia.com/gpu": "9"}}}]}}}}
UNKNOWN = "NVIDIA-GeForce-RTX-9090"


def _nautilus(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(NAUTILUS), *args], capture_output=True, text=True)


def _pending_message(cluster, overlay) -> str:
    overlay.apply()
    name = overlay.jobs("train")[0]["metadata"]["name"]
    pod = wait_for_pods(cluster, overlay.namespace, f"batch.kubernetes.io/job-name={name}", 1, pending=1)[0]
    message = unschedulable_message(pod)
    assert "untolerated taint {nautilus.io/system: true}" in message  # the system node was never an option
    return message


def test_nine_gpus_stay_pending_and_the_validator_says_why(cluster, open_overlay, generated_overlay, tmp_path):
    edited = derive(tmp_path / "nine-gpus", generated_overlay, "train", NINE_GPUS)  # a user's edit of the count
    proc = _nautilus("validate", "--format", "json", str(edited))
    assert proc.returncode == 1, proc.stderr
    assert "job-gpu-max" in {f["rule"] for f in json.loads(proc.stdout)["findings"] if f["severity"] == "error"}
    assert "Insufficient nvidia.com/gpu" in _pending_message(cluster, open_overlay(edited))


def test_an_unknown_product_stays_pending_and_the_generator_says_why(cluster, open_overlay, tmp_path):
    args = ["new", "unknown", "--namespace", "nautilus-generated", "--gpus", "1", "--gpu-product", UNKNOWN,
            "--output-dir", str(tmp_path)]
    refused = _nautilus(*args)
    assert refused.returncode == 2 and UNKNOWN in refused.stderr
    assert _nautilus(*args, "--allow-unknown-product").returncode == 0  # the user insists
    message = _pending_message(cluster, open_overlay(tmp_path / "unknown"))
    assert "didn't match Pod's node affinity/selector" in message
