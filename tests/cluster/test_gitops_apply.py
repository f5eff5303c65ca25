"""Carrying out a plan (generator/deploy/apply.py) in a namespace of the control plane: what is deleted, what
is applied, and what the record says afterwards. Plans are written by hand as plan.Step values."""
import json
import threading
import time

import pytest

from generator.deploy import apply, plan
from generator.deploy.desired import Overlay
from generator.deploy.kube import Kube
from generator.deploy.plan import Plan, Step
from generator.deploy.record import Record, read
from generator.deploy.settings import settings

from .gitops_objects import claim, config, job


def live(kube: Kube, *objects: dict) -> dict[str, str]:
    """Objects put in the namespace as an earlier apply left them: name -> uid."""
    return {o["metadata"]["name"]: o["metadata"]["uid"] for o in kube.apply(list(objects))}


def uid_of(kube: Kube, kind: str, name: str) -> str | None:
    found = kube.get(plan.resource(kind), name)
    return found["metadata"]["uid"] if found and not found["metadata"].get("deletionTimestamp") else None


def entry(kind: str, name: str, uid: str) -> dict:
    return {"kind": kind, "name": name, "uid": uid}


def carry_out(kube: Kube, steps: list[Step], before: Record | None = None, rendered=("a",), removed=(),
              commit: str = "c1") -> Record:
    """apply.carry_out as `nautilus gitops apply` calls it, with the record read from the namespace; the
    record it wrote."""
    recorded, record_live = read(kube)
    if before is not None:
        recorded.overlays = before.overlays
    apply.carry_out(kube, Plan(kube.namespace, steps), recorded, record_live, commit, list(rendered), list(removed))
    return read(kube)[0]


@pytest.fixture
def release(cluster, namespace):
    """release(kind, name) -> a function that takes the test's finalizer off that object, so that it can go;
    every object named is let go at the end of the test."""
    named = []

    def free(kind: str, name: str) -> None:
        cluster.kubectl("patch", plan.resource(kind), name, "-n", namespace, "--type=json",
                        "-p", json.dumps([{"op": "remove", "path": "/metadata/finalizers"}]), check=False)

    def release_(kind: str, name: str):
        named.append((kind, name))
        return lambda: free(kind, name)
    yield release_
    for kind, name in named:
        free(kind, name)


def release_when_deleted(cluster, namespace: str, resource: str, name: str, after: float, free) -> threading.Thread:
    """In the background: once the object is being deleted, wait `after` seconds, then let it go."""
    def run():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = cluster.kubectl("get", resource, name, "-n", namespace, "-o", "json", check=False)
            if found.returncode == 0 and json.loads(found.stdout)["metadata"].get("deletionTimestamp"):
                break
            time.sleep(0.1)
        time.sleep(after)
        free()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_new_objects_are_applied_per_overlay_and_recorded(kube, namespace):
    """Created and changed objects of each overlay are applied; the record lists, per overlay, what main
    renders with the live uids (an unchanged object too), remembers the runs started, and carries the commit."""
    ns = namespace
    old = live(kube, config(ns, "a-same", "a"), config(ns, "a-changed", "a", {"value": "1"}))
    steps = [Step("a", "ConfigMap", "a-config", "create", obj=config(ns, "a-config", "a")),
             Step("a", "Job", "a-run", "create", obj=job(ns, "a-run", "a")),
             Step("a", "ConfigMap", "a-same", "same"),
             Step("a", "ConfigMap", "a-changed", "change", fields=["data.value"], obj=config(ns, "a-changed", "a", {"value": "2"})),
             Step("b", "ConfigMap", "b-config", "create", obj=config(ns, "b-config", "b"))]
    written = carry_out(kube, steps, rendered=("a", "b"), commit="f00d")
    uids = {name: uid_of(kube, kind, name) for kind, name in
            [("ConfigMap", "a-config"), ("Job", "a-run"), ("ConfigMap", "a-same"), ("ConfigMap", "a-changed"),
             ("ConfigMap", "b-config")]}
    assert all(uids.values()) and uids["a-same"] == old["a-same"] and uids["a-changed"] == old["a-changed"]
    assert kube.get("configmaps", "a-changed")["data"] == {"value": "2"}
    assert written == Record("f00d", {
        "a": {"objects": [entry("ConfigMap", "a-config", uids["a-config"]), entry("Job", "a-run", uids["a-run"]),
                          entry("ConfigMap", "a-same", uids["a-same"]), entry("ConfigMap", "a-changed", uids["a-changed"])],
              "runs": ["a-run"]},
        "b": {"objects": [entry("ConfigMap", "b-config", uids["b-config"])], "runs": []}})


def test_prune_and_stop_delete_only_the_recorded_object(kube, namespace):
    """A pruned or stopped object goes, and leaves the record, but only while it is still the object recorded:
    one recreated since (another uid) stays."""
    ns = namespace
    uids = live(kube, config(ns, "old-config", "a"), job(ns, "old-run", "a"), config(ns, "recreated", "a"))
    before = Record("c0", {"a": {"objects": [entry("ConfigMap", "old-config", uids["old-config"]),
                                             entry("Job", "old-run", uids["old-run"]),
                                             entry("ConfigMap", "recreated", "an-older-uid")], "runs": ["old-run"]}})
    steps = [Step("a", "ConfigMap", "old-config", "prune", uid=uids["old-config"]),
             Step("a", "Job", "old-run", "stop", uid=uids["old-run"]),
             Step("a", "ConfigMap", "recreated", "prune", uid="an-older-uid")]
    written = carry_out(kube, steps, before)
    assert uid_of(kube, "ConfigMap", "old-config") is None and uid_of(kube, "Job", "old-run") is None
    assert uid_of(kube, "ConfigMap", "recreated") == uids["recreated"]
    assert written == Record("c1", {"a": {"objects": [], "runs": ["old-run"]}})


def test_what_is_deleted_but_still_there_leaves_the_record(kube, namespace, release):
    """A kept claim (main no longer has it, a person deletes it) and a pruned object still being deleted are
    not recorded any more, though still live with the recorded uid."""
    ns = namespace
    uids = live(kube, claim(ns, "a-storage", "a"), config(ns, "slow", "a", held=True), job(ns, "older-run", "a"))
    release("ConfigMap", "slow")
    before = Record("c0", {"a": {"objects": [entry("PersistentVolumeClaim", "a-storage", uids["a-storage"]),
                                             entry("ConfigMap", "slow", uids["slow"]),
                                             entry("Job", "older-run", uids["older-run"])], "runs": ["older-run"]}})
    steps = [Step("a", "PersistentVolumeClaim", "a-storage", "keep-claim"),
             Step("a", "ConfigMap", "slow", "prune", uid=uids["slow"])]
    written = carry_out(kube, steps, before)
    assert uid_of(kube, "PersistentVolumeClaim", "a-storage") == uids["a-storage"]
    assert kube.get("configmaps", "slow")["metadata"]["deletionTimestamp"]
    assert written.overlays == {"a": {"objects": [entry("Job", "older-run", uids["older-run"])], "runs": ["older-run"]}}


def test_older_runs_still_live_stay_in_the_record(kube, namespace):
    """An older run still live with its recorded uid stays recorded once; one that is gone, or was recreated by
    someone else, leaves the record; a run started before is remembered once."""
    ns = namespace
    uids = live(kube, job(ns, "old-run", "a"), job(ns, "current-run", "a"), config(ns, "current", "a"),
                config(ns, "by-hand", "a"))
    before = Record("c0", {"a": {"objects": [entry("Job", "old-run", uids["old-run"]),
                                             entry("Job", "vanished-run", "uid-of-a-finished-run"),
                                             entry("ConfigMap", "by-hand", "uid-of-the-one-we-applied"),
                                             entry("ConfigMap", "current", uids["current"]),
                                             entry("Job", "current-run", uids["current-run"])],
                                 "runs": ["vanished-run", "old-run", "current-run"]}})
    steps = [Step("a", "ConfigMap", "current", "same"), Step("a", "Job", "current-run", "same"),
             Step("a", "Job", "new-run", "create", obj=job(ns, "new-run", "a"))]
    written = carry_out(kube, steps, before)
    new = uid_of(kube, "Job", "new-run")
    assert written.overlays == {"a": {
        "objects": [entry("ConfigMap", "current", uids["current"]), entry("Job", "current-run", uids["current-run"]),
                    entry("Job", "new-run", new), entry("Job", "old-run", uids["old-run"])],
        "runs": ["vanished-run", "old-run", "current-run", "new-run"]}}


def test_a_removed_overlay_leaves_the_record(kube, namespace):
    """An overlay main no longer has leaves the record; one not rendered this time (unchanged) keeps its entries."""
    before = Record("c0", {"a": {"objects": [], "runs": ["a-run"]}, "gone": {"objects": [], "runs": ["g-run"]},
                           "unchanged": {"objects": [entry("ConfigMap", "u", "uid-u")], "runs": ["u-run"]}})
    written = carry_out(kube, [Step("a", "ConfigMap", "a-config", "create", obj=config(namespace, "a-config", "a"))],
                        before, removed=("gone",))
    assert written.overlays == {
        "a": {"objects": [entry("ConfigMap", "a-config", uid_of(kube, "ConfigMap", "a-config"))], "runs": ["a-run"]},
        "unchanged": {"objects": [entry("ConfigMap", "u", "uid-u")], "runs": ["u-run"]}}


def test_the_runs_remembered_are_capped_oldest_first(kube, namespace):
    """An overlay remembers its last runs_kept runs (gitops.yaml): a new run drops the oldest."""
    kept = settings()["runs_kept"]
    before = Record("c0", {"a": {"objects": [], "runs": [f"run-{i}" for i in range(kept)]}})
    written = carry_out(kube, [Step("a", "Job", f"run-{kept}", "create", obj=job(namespace, f"run-{kept}", "a"))], before)
    assert written.runs("a") == [f"run-{i}" for i in range(1, kept + 1)]


def test_a_replaced_job_is_gone_before_its_successor_is_created(kube, cluster, namespace, release):
    """A Job the overlay asks to replace is deleted, and its successor of the same name is created only once
    the old one is gone (here it lingers a second): a new Job, recorded with its new uid."""
    ns = namespace
    old = live(kube, job(ns, "run", "a", held=True))["run"]
    free = release("Job", "run")
    waiter = release_when_deleted(cluster, ns, "jobs", "run", 1.0, free)
    successor = job(ns, "run", "a", image="busybox:2")
    written = carry_out(kube, [Step("a", "Job", "run", "replace", obj=successor, uid=old)])
    waiter.join()
    now = kube.get("jobs", "run")
    assert now["metadata"]["uid"] != old and not now["metadata"].get("deletionTimestamp")
    assert now["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:2"
    assert written.objects("a") == [entry("Job", "run", now["metadata"]["uid"])] and written.runs("a") == ["run"]


class Clock:
    """A clock for apply's waits: each sleep lasts `step` seconds and takes no time."""

    def __init__(self, step: float):
        self.now, self.step, self.sleeps = 1000.0, step, 0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += self.step


def test_a_replaced_job_that_is_not_deleted_stops_the_apply_after_two_minutes(kube, namespace, release, monkeypatch):
    """A replaced Job still there after 120 s stops the apply with an error naming it: nothing is created
    and the record is not written."""
    old = live(kube, job(namespace, "run", "a", held=True))["run"]
    release("Job", "run")
    clock = Clock(61)
    monkeypatch.setattr(apply, "time", clock)
    with pytest.raises(TimeoutError, match=r"^jobs\.batch run was not deleted within 120 s$"):
        carry_out(kube, [Step("a", "Job", "run", "replace", obj=job(namespace, "run", "a", image="busybox:2"), uid=old)])
    assert clock.sleeps == 2
    assert kube.get("jobs", "run")["metadata"]["uid"] == old
    assert kube.get("configmaps", settings()["record"]) is None


def test_waiting_for_an_object_to_go(kube, cluster, namespace, release):
    """The wait returns at once for an object that is not there, as soon as a deleted one is gone, and raises
    a TimeoutError naming one still there after the time given."""
    start = time.monotonic()
    apply._wait_gone(kube, "configmaps", "never-there", seconds=5)
    assert time.monotonic() - start < 2
    live(kube, config(namespace, "slow", "a", held=True), config(namespace, "stuck", "a", held=True))
    free, _ = release("ConfigMap", "slow"), release("ConfigMap", "stuck")
    cluster.kubectl("delete", "configmap", "slow", "stuck", "-n", namespace, "--wait=false")
    waiter = release_when_deleted(cluster, namespace, "configmaps", "slow", 0.5, free)
    start = time.monotonic()
    apply._wait_gone(kube, "configmaps", "slow", seconds=10)
    assert time.monotonic() - start < 4 and kube.get("configmaps", "slow") is None
    waiter.join()
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=r"^configmaps stuck was not deleted within 1\.5 s$"):
        apply._wait_gone(kube, "configmaps", "stuck", seconds=1.5)
    assert 1.5 <= time.monotonic() - start < 5


class RecreatedByHand(Kube):
    """Right after each apply, a person deletes the ConfigMap `shared` and creates their own of that name."""

    def __init__(self, namespace: str, cluster):
        super().__init__(namespace)
        self.cluster, self.applied = cluster, {}

    def apply(self, objects: list[dict]) -> list[dict]:
        out = super().apply(objects)
        for obj in out:
            if obj["metadata"]["name"] == "shared":
                self.applied = obj
                self.cluster.kubectl("delete", "configmap", "shared", "-n", self.namespace)
                mine = {k: obj[k] for k in ("apiVersion", "kind", "data")}
                mine["metadata"] = {k: obj["metadata"][k] for k in ("name", "namespace", "labels")}
                self.cluster.kubectl("create", "-f", "-", input=json.dumps(mine))
        return out


def test_an_object_recreated_during_the_apply_is_not_recorded_as_ours(kube, cluster, namespace):
    """The record names the object the apply made (its uid), not one a person made in its place a moment later,
    so a later plan never prunes theirs."""
    hand = RecreatedByHand(namespace, cluster)
    written = carry_out(hand, [Step("a", "ConfigMap", "shared", "create", obj=config(namespace, "shared", "a"))])
    theirs = uid_of(kube, "ConfigMap", "shared")
    assert theirs and theirs != hand.applied["metadata"]["uid"]
    assert written.objects("a") == [entry("ConfigMap", "shared", hand.applied["metadata"]["uid"])]
    later = plan.compute(kube, [Overlay("a", [], "")], written, [], [])
    assert later.of("prune") == [] and uid_of(kube, "ConfigMap", "shared") == theirs
