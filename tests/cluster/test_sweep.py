"""A sweep on the control plane: one Indexed Job of 4 variants, 2 pods at a time, each pod its own completion
index; a variant that fails (kwok exit code) fails only its index, a preempted one is retried without using
up its retries, and the other variants complete."""
import subprocess
import sys
from pathlib import Path

from .controlplane import wait_until
from .workloads import pods

INDEX = "batch.kubernetes.io/job-completion-index"


def _new_sweep(folder: Path) -> Path:
    nautilus = Path(sys.executable).with_name("nautilus")
    proc = subprocess.run([str(nautilus), "new", "sweep4", "--namespace", "nautilus-sweep", "--gpus", "1",
                           "--gpu-product", "NVIDIA-L40", "--sweep", "train.lr=1e-4,2e-4",
                           "--sweep", "train.lambda_identity=0,0.5", "--parallel", "2", "--output-dir", str(folder)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return folder / "sweep4"


def test_four_variants_two_at_a_time_one_failing_one_preempted(cluster, open_overlay, tmp_path):
    overlay = open_overlay(_new_sweep(tmp_path))
    job_name = overlay.jobs("train")[0]["metadata"]["name"]
    selector = f"batch.kubernetes.io/job-name={job_name}"
    overlay.apply()
    assert all(line.endswith("unchanged") for line in overlay.apply().splitlines()), "re-applying must change nothing"

    def job() -> dict:
        return cluster.get("job", "-n", overlay.namespace, job_name)

    def live() -> list[dict]:
        return [p for p in pods(cluster, overlay.namespace, selector) if p["status"].get("phase") in ("Pending", "Running")]

    def running(index: int) -> dict | None:
        return next((p for p in live() if p["metadata"]["annotations"][INDEX] == str(index)
                     and p["status"].get("phase") == "Running"), None)

    def end(index: int, annotation: str) -> dict:
        pod = wait_until(lambda: running(index), 60, f"a Running pod of index {index}")
        assert len(live()) <= 2  # never more than parallelism at once
        cluster.kubectl("annotate", "pod", "-n", overlay.namespace, pod["metadata"]["name"], annotation)
        return pod

    first = wait_until(lambda: (lambda found: found if len(found) == 2 else None)(live()), 60, "two pods of the sweep")
    assert sorted(p["metadata"]["annotations"][INDEX] for p in first) == ["0", "1"]
    for pod in first:  # each pod learns its variant from the index, as trainer.sweep reads it
        env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
        assert env["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == f"metadata.labels['{INDEX}']"
        assert pod["spec"]["containers"][0]["args"][2:4] == ["trainer.sweep", "trainer.train"]
    assert len(live()) == 2 and job()["spec"]["parallelism"] == 2

    preempted = end(0, "kwok.nautilus.io/disrupt=PreemptionByScheduler")
    retried = wait_until(lambda: (lambda p: p if p and p["metadata"]["uid"] != preempted["metadata"]["uid"] else None)(running(0)),
                         60, "index 0 to be retried after its preemption")
    assert retried["metadata"]["annotations"]["batch.kubernetes.io/job-index-failure-count"] == "0"  # not counted

    end(1, "kwok.nautilus.io/exit-code=2")  # a bad variant: FailIndex, no retry, the sweep goes on
    wait_until(lambda: job()["status"].get("failedIndexes") == "1", 60, "index 1 to be marked failed")
    wait_until(lambda: running(2), 60, "index 2 to start in the freed slot")
    assert not any(p["metadata"]["annotations"][INDEX] == "1" for p in live())

    crashed = end(2, "kwok.nautilus.io/exit-code=1")  # a crash: retried within the index, counted there
    again = wait_until(lambda: (lambda p: p if p and p["metadata"]["uid"] != crashed["metadata"]["uid"] else None)(running(2)),
                       90, "index 2 to be retried after its crash")
    assert again["metadata"]["annotations"]["batch.kubernetes.io/job-index-failure-count"] == "1"

    for index in (0, 2, 3):
        end(index, "kwok.nautilus.io/exit-code=0")
    final = wait_until(lambda: (lambda j: j if any(c["type"] == "Failed" and c["status"] == "True"
                                                   for c in j["status"].get("conditions", [])) else None)(job()),
                       90, "the sweep to finish")
    status = final["status"]
    assert (status["completedIndexes"], status["failedIndexes"], status.get("succeeded")) == ("0,2,3", "1", 3)
    reason = next(c["reason"] for c in status["conditions"] if c["type"] == "Failed")
    assert reason == "FailedIndexes"  # the Job reports the one failed variant; the three others completed
