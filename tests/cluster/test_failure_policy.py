"""The Jobs' podFailurePolicy and TTL, seen through the real Job and TTL controllers while kwok ends
pods the way a preemption, a crash or a bad config would."""
import time

from .controlplane import wait_until
from .overlays import derive


def _job(cluster, overlay, name) -> dict:
    return cluster.get("job", "-n", overlay.namespace, name)


def _condition(job: dict, kind: str) -> dict | None:
    return next((c for c in job["status"].get("conditions", []) if c["type"] == kind and c["status"] == "True"), None)


def _end_running_pod(cluster, overlay, name: str, annotation: str) -> str:
    """Annotate one Running pod of Job `name` so that kwok ends it, and wait until it has ended."""
    def running():
        pods = cluster.get("pods", "-n", overlay.namespace, "-l", f"batch.kubernetes.io/job-name={name}")["items"]
        return next((p["metadata"]["name"] for p in pods if p["status"].get("phase") == "Running"), None)
    pod = wait_until(running, 60, f"a Running pod of {name}")
    cluster.kubectl("annotate", "pod", "-n", overlay.namespace, pod, annotation)
    ended = lambda: cluster.get("pod", "-n", overlay.namespace, pod)["status"]["phase"] in ("Succeeded", "Failed")  # noqa: E731
    wait_until(ended, 30, f"kwok to end pod {pod}")
    return pod


def _wait_for_pod_count(cluster, overlay, name: str, count: int) -> None:
    """Wait until the Job controller has made `count` pods in all (so it has seen every earlier end)."""
    selector = f"batch.kubernetes.io/job-name={name}"
    wait_until(lambda: len(cluster.get("pods", "-n", overlay.namespace, "-l", selector)["items"]) == count,
               60, f"{count} pods of {name}")


def _rule(job: dict, action: str) -> dict:
    rules = job["spec"]["podFailurePolicy"]["rules"]
    return next(r for r in rules if r["action"] == action)


def test_disruptions_are_ignored_crashes_count_and_bad_input_fails_the_job(cluster, open_overlay, generated_overlay):
    overlay = open_overlay(generated_overlay)
    jobs = {job["metadata"]["name"]: job for job in overlay.jobs()}  # data and train: the same policy, each its own
    assert len(jobs) == 2
    for job in jobs.values():
        assert _rule(job, "Ignore")["onPodConditions"][0]["type"] == "DisruptionTarget"
        assert job["spec"]["backoffLimit"] > 1  # so below it is the policy, not the backoff limit, that ends the Job
    overlay.apply()
    # Each step acts on both Jobs before waiting, so that the Job controller's retry back-off overlaps.
    # A preemption: the pod fails with DisruptionTarget; the Job replaces it without counting a failure.
    for name in jobs:
        _end_running_pod(cluster, overlay, name, "kwok.nautilus.io/disrupt=PreemptionByScheduler")
    for name in jobs:
        _wait_for_pod_count(cluster, overlay, name, 2)
        assert not _job(cluster, overlay, name)["status"].get("failed")
    # A crash (exit 1, no rule matches): counted against backoffLimit, and retried.
    for name in jobs:
        _end_running_pod(cluster, overlay, name, "kwok.nautilus.io/exit-code=1")
    for name in jobs:
        _wait_for_pod_count(cluster, overlay, name, 3)
        wait_until(lambda: _job(cluster, overlay, name)["status"].get("failed") == 1, 30, f"{name} to count the crash")
        assert not _condition(_job(cluster, overlay, name), "Failed")
    # A bad config (the FailJob exit code): the Job fails at once, whatever backoffLimit is left.
    for name, job in jobs.items():
        fatal = _rule(job, "FailJob")["onExitCodes"]["values"][0]
        _end_running_pod(cluster, overlay, name, f"kwok.nautilus.io/exit-code={fatal}")
    for name in jobs:
        failed = wait_until(lambda: _condition(_job(cluster, overlay, name), "Failed"), 60, f"{name} to fail")
        assert failed["reason"] == "PodFailurePolicy"
        assert _job(cluster, overlay, name)["status"]["failed"] == 2  # the crash and the bad config; not the preemption


def test_a_finished_job_is_removed_after_its_ttl(cluster, open_overlay, generated_overlay, tmp_path):
    ttl = 5  # the overlays keep NRP's week; the same field, shortened, shows the controller honours it
    overlay = open_overlay(derive(tmp_path / "short-ttl", generated_overlay, "train", {"spec": {"ttlSecondsAfterFinished": ttl}}))
    job = overlay.jobs("train")[0]
    name = job["metadata"]["name"]
    overlay.apply()
    assert _job(cluster, overlay, name)["spec"]["ttlSecondsAfterFinished"] == ttl
    for _ in range(job["spec"].get("completions", 1)):
        _end_running_pod(cluster, overlay, name, "kwok.nautilus.io/exit-code=0")
    wait_until(lambda: _condition(_job(cluster, overlay, name), "Complete"), 60, "the Job to complete")
    completed = time.monotonic()
    gone = lambda: cluster.kubectl("get", "job", "-n", overlay.namespace, name, check=False).returncode != 0  # noqa: E731
    wait_until(gone, ttl + 30, "the TTL controller to delete the Job", interval=0.25)
    assert time.monotonic() - completed >= ttl - 1.5  # not before its time (timestamps have 1 s resolution)
