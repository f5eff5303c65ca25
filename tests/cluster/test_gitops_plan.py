"""What `nautilus gitops plan` says will happen to a namespace: plan.compute against the control plane with small
hand-written overlays, records and live objects, and its pure helpers with plain dicts. Each test is one plan."""
import json

from generator.deploy import plan
from generator.deploy.desired import Overlay
from generator.deploy.plan import Plan, Step, active, differences, normalised, resource
from generator.deploy.record import Record

from .gitops_objects import REPLACE, claim, config, job, service


def overlay(name: str, *objects: dict) -> Overlay:
    return Overlay(name, list(objects), "")


def entries(applied: list[dict]) -> list[dict]:
    """What the record keeps of applied objects: kind, name, uid."""
    return [{"kind": o["kind"], "name": o["metadata"]["name"], "uid": o["metadata"]["uid"]} for o in applied]


def uids(applied: list[dict]) -> dict[str, str]:
    return {f"{o['kind']}/{o['metadata']['name']}": o["metadata"]["uid"] for o in applied}


def actions(found: Plan) -> list[tuple[str, str, str, str]]:
    return [(s.overlay, s.kind, s.name, s.action) for s in found.steps]


def finish(cluster, namespace: str, name: str) -> None:
    """The Job's run ended (its status says so), as the job controller would write it."""
    status = {"status": {"conditions": [{"type": "SuccessCriteriaMet", "status": "True", "reason": "Done", "message": "done"}]}}
    cluster.kubectl("patch", "job", name, "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(status))


# --- pure helpers --------------------------------------------------------------------------------

def test_changed_fields_are_dotted_paths_and_at_most_twenty():
    """A change lists each differing field by its dotted path (sorted, added and removed keys too), a value that
    stops being a mapping by its own path, a whole differing value as (object), and never more than 20 paths."""
    assert differences({"data": {"a": "1", "b": "2", "gone": "x"}}, {"data": {"a": "2", "b": "2", "new": "y"}}) == \
        ["data.a", "data.gone", "data.new"]
    assert differences({"spec": {"a": {"b": 1}}}, {"spec": {"a": None}}) == ["spec.a"]
    assert differences({"spec": {"a": 1}}, {"spec": "x"}) == ["spec"]
    assert differences("a", "b") == ["(object)"]
    assert differences({"x": [1]}, {"x": [1]}) == []
    many = differences({"data": {f"k{i:02}": "1" for i in range(25)}}, {"data": {f"k{i:02}": "2" for i in range(25)}})
    assert many == [f"data.k{i:02}" for i in range(20)]


def test_ignored_metadata_and_status_are_not_compared():
    """What the server writes (status, uid, resourceVersion, generation, managedFields, creationTimestamp,
    selfLink) is left out of the comparison; the name, labels and spec are kept."""
    live = {"kind": "Job", "spec": {"x": 1}, "status": {"active": 1},
            "metadata": {"name": "a", "labels": {"l": "v"}, "uid": "u", "resourceVersion": "7", "generation": 2,
                         "managedFields": [], "creationTimestamp": "t", "selfLink": "/s"}}
    assert normalised(live) == {"kind": "Job", "spec": {"x": 1}, "metadata": {"name": "a", "labels": {"l": "v"}}}
    assert live["status"] == {"active": 1} and live["metadata"]["uid"] == "u"  # the live object itself is untouched
    assert normalised({"kind": "ConfigMap"}) == {"kind": "ConfigMap", "metadata": {}}


def test_a_job_is_finished_only_when_a_final_condition_is_true():
    """Complete, Failed, SuccessCriteriaMet or FailureTarget set to True end a run; anything else still runs."""
    cond = lambda kind, status="True": {"status": {"conditions": [{"type": kind, "status": status}]}}
    for final in ("Complete", "Failed", "SuccessCriteriaMet", "FailureTarget"):
        assert not active(cond(final)), final
        assert active(cond(final, "False")), final
    assert active(cond("Suspended"))
    assert active({}) and active({"status": None}) and active({"status": {}})


def test_kinds_are_addressed_by_resource_and_group():
    """Steps are carried out on resource names kubectl accepts: core kinds bare, others with their group."""
    assert resource("Job") == "jobs.batch"
    assert resource("ConfigMap") == "configmaps"
    assert resource("PersistentVolumeClaim") == "persistentvolumeclaims"


def test_a_plan_changes_the_namespace_only_by_creating_changing_replacing_pruning_or_stopping():
    """Plan.of picks the steps of the named actions in order; a plan of only same, not-rerun, refused, keep-claim
    and supersede steps changes nothing, one with any create, change, replace, prune or stop does."""
    quiet = [Step("o", "Job", a, a) for a in ("same", "not-rerun", "refused", "keep-claim", "supersede")]
    assert not Plan("ns", quiet).changes
    for action in ("create", "change", "replace", "prune", "stop"):
        assert Plan("ns", [*quiet, Step("o", "Job", "x", action)]).changes is True, action
    steps = [Step("o", "ConfigMap", "a", "prune"), Step("o", "Job", "b", "same"), Step("o", "Job", "c", "stop")]
    assert Plan("ns", steps).of("stop", "prune") == [steps[0], steps[2]]
    assert Plan("ns", steps).of("create") == []


# --- plans against the namespace ------------------------------------------------------------------

def test_new_objects_are_created_and_a_new_job_is_a_new_run(kube):
    """In an empty namespace everything is created; a Job is announced as a new run; overlays of another
    namespace are listed as skipped."""
    ns = kube.namespace
    cfg, run = config(ns, "cells-train-1"), job(ns, "cells-train-1")
    found = plan.compute(kube, [overlay("cells", cfg, run)], Record(), [], ["elsewhere"])
    assert found.namespace == ns and found.skipped == ["elsewhere"]
    assert actions(found) == [("cells", "ConfigMap", "cells-train-1", "create"), ("cells", "Job", "cells-train-1", "create")]
    assert [(s.note, s.obj, s.fields, s.uid) for s in found.steps] == [("", cfg, [], ""), ("new run", run, [], "")]
    assert found.changes


def test_an_unchanged_namespace_plans_nothing(kube):
    """Objects already applied as main renders them are `same`: nothing to send, no fields, even though the
    server added a uid, managed fields and a Job status."""
    ns = kube.namespace
    objects = [config(ns, "cells-train-1"), job(ns, "cells-train-1"), service(ns, "cells-tb")]
    applied = kube.apply(objects)
    record = Record("c1", {"cells": {"objects": entries(applied), "runs": ["cells-train-1"]}})
    found = plan.compute(kube, [overlay("cells", *objects)], record, [], [])
    assert actions(found) == [("cells", kind, name, "same") for kind, name in
                              (("ConfigMap", "cells-train-1"), ("Job", "cells-train-1"), ("Service", "cells-tb"))]
    assert all(s.fields == [] and s.obj is None for s in found.steps)
    assert not found.changes


def test_a_changed_object_lists_its_changed_fields(kube):
    """A ConfigMap edited in main is `change`, with the changed fields by path and the object to apply."""
    ns = kube.namespace
    kube.apply([config(ns, "cells-data", data={"a": "1", "b": "2"})])
    edited = config(ns, "cells-data", data={"a": "2", "b": "2", "c": "3"})
    edited["metadata"]["labels"]["team"] = "vision"
    found = plan.compute(kube, [overlay("cells", edited)], Record(), [], [])
    (step,) = found.steps
    assert (step.action, step.fields, step.obj) == ("change", ["data.a", "data.c", "metadata.labels.team"], edited)
    assert found.changes


def test_a_run_that_finished_and_is_gone_is_not_started_again(kube):
    """A Job the record says was started, now gone (its TTL removed it), is `not-rerun`; its config named like it
    is created again, and a Job never started is a new run."""
    ns = kube.namespace
    old, new = job(ns, "cells-train-1"), job(ns, "cells-data-1", stage="data")
    record = Record("c1", {"cells": {"objects": [], "runs": ["cells-train-1"]}})
    found = plan.compute(kube, [overlay("cells", config(ns, "cells-train-1"), old, new)], record, [], [])
    assert actions(found) == [("cells", "ConfigMap", "cells-train-1", "create"), ("cells", "Job", "cells-train-1", "not-rerun"),
                              ("cells", "Job", "cells-data-1", "create")]
    assert "not started again" in found.steps[1].note and found.steps[1].obj is None
    assert not Plan(ns, found.steps[1:2]).changes


def test_a_change_the_server_refuses_is_refused_unless_the_job_asks_to_be_replaced(kube):
    """A Job changed where the API server forbids it is `refused` with the server's reason; with
    `nautilus.io/on-new-run: replace` it is `replace` (deleted by uid, created again). An immutable ConfigMap
    stays `refused` even with that annotation: only Jobs are replaced."""
    ns = kube.namespace
    frozen = config(ns, "cells-frozen", immutable=True)
    applied = uids(kube.apply([job(ns, "cells-train-1"), frozen]))
    thawed = config(ns, "cells-frozen", data={"train.yaml": "epochs: 2\n"}, immutable=True)
    thawed["metadata"]["annotations"] = dict(REPLACE)
    found = plan.compute(kube, [overlay("cells", job(ns, "cells-train-1", completions=2), thawed)], Record(), [], [])
    assert actions(found) == [("cells", "Job", "cells-train-1", "refused"), ("cells", "ConfigMap", "cells-frozen", "refused")]
    assert all("immutable" in s.note and s.obj is None for s in found.steps)
    assert not found.changes
    replaced = job(ns, "cells-train-1", completions=2, annotations=REPLACE)
    found = plan.compute(kube, [overlay("cells", replaced)], Record(), [], [])
    (step,) = found.steps
    assert (step.action, step.obj, step.uid) == ("replace", replaced, applied["Job/cells-train-1"])
    assert "nautilus.io/on-new-run: replace" in step.note and found.changes


def test_an_older_run_that_still_runs_is_kept_beside_the_new_one_or_stopped(cluster, kube):
    """A new train run leaves the older train run that still runs alone, with the line that stops it, or stops
    it when the new Job asks to replace; a finished run, another stage's run and a Job that is no longer the one
    recorded (another uid) are left alone and not pruned."""
    ns = kube.namespace
    applied = uids(kube.apply([job(ns, "cells-train-1"), job(ns, "cells-train-0"), job(ns, "cells-data-1", stage="data"),
                               job(ns, "cells-train-x")]))
    finish(cluster, ns, "cells-train-0")
    recorded = [{"kind": "Job", "name": n, "uid": applied[f"Job/{n}"]} for n in ("cells-train-1", "cells-train-0", "cells-data-1")]
    record = Record("c1", {"cells": {"objects": [*recorded, {"kind": "Job", "name": "cells-train-x", "uid": "another"}],
                                     "runs": ["cells-train-1", "cells-train-0", "cells-data-1", "cells-train-x"]}})
    found = plan.compute(kube, [overlay("cells", job(ns, "cells-train-2"))], record, [], [])
    assert actions(found) == [("cells", "Job", "cells-train-2", "create"), ("cells", "Job", "cells-train-1", "supersede")]
    assert found.steps[1].note == f"still runs beside cells-train-2; stop it: kubectl delete job cells-train-1 -n {ns}"
    found = plan.compute(kube, [overlay("cells", job(ns, "cells-train-2", annotations=REPLACE))], record, [], [])
    assert actions(found) == [("cells", "Job", "cells-train-2", "create"), ("cells", "Job", "cells-train-1", "stop")]
    stop = found.steps[1]
    assert (stop.uid, stop.note) == (applied["Job/cells-train-1"], "replaced by cells-train-2 (nautilus.io/on-new-run: replace)")


def test_only_our_own_objects_are_pruned_and_never_a_claim(kube):
    """What main no longer renders is pruned only if the record has it with the live uid and it carries the
    overlay's label; a claim is kept with the line that deletes it; older runs' Jobs and their configs and
    services stay while the overlay exists; what main still renders is never pruned."""
    ns = kube.namespace
    current = config(ns, "cells-train-2")
    live = [current, config(ns, "cells-old"), service(ns, "cells-old-svc"), claim(ns, "cells-storage"),
            config(ns, "cells-relabelled", overlay="other"), config(ns, "cells-unlabelled", overlay=None),
            config(ns, "cells-recreated"), job(ns, "cells-train-1"), config(ns, "cells-train-1"), service(ns, "cells-train-1")]
    applied = kube.apply(live)
    recorded = [e if e["name"] != "cells-recreated" else {**e, "uid": "before"} for e in entries(applied)]
    record = Record("c1", {"cells": {"objects": [*recorded, {"kind": "ConfigMap", "name": "cells-gone", "uid": "u"}],
                                     "runs": ["cells-train-1"]}})
    found = plan.compute(kube, [overlay("cells", current)], record, [], [])
    ids = uids(applied)
    assert actions(found) == [("cells", "ConfigMap", "cells-train-2", "same"), ("cells", "ConfigMap", "cells-old", "prune"),
                              ("cells", "Service", "cells-old-svc", "prune"),
                              ("cells", "PersistentVolumeClaim", "cells-storage", "keep-claim")]
    assert [s.uid for s in found.steps[1:3]] == [ids["ConfigMap/cells-old"], ids["Service/cells-old-svc"]]
    assert found.steps[3].note.endswith(f"kubectl delete pvc cells-storage -n {ns}") and found.steps[3].uid == ""


def test_a_removed_overlay_is_pruned_with_its_runs_but_not_its_claim(kube):
    """An overlay that left main loses its Jobs (running or not), their configs and its other objects; its claim
    is kept with the line to delete it."""
    ns = kube.namespace
    old = [job(ns, "gone-train-1", overlay="gone"), config(ns, "gone-train-1", overlay="gone"),
           config(ns, "gone-cfg", overlay="gone"), claim(ns, "gone-storage", overlay="gone")]
    applied = kube.apply(old)
    record = Record("c1", {"gone": {"objects": entries(applied), "runs": ["gone-train-1"]}})
    found = plan.compute(kube, [], record, ["gone"], [])
    ids = uids(applied)
    assert actions(found) == [("gone", "Job", "gone-train-1", "prune"), ("gone", "ConfigMap", "gone-train-1", "prune"),
                              ("gone", "ConfigMap", "gone-cfg", "prune"), ("gone", "PersistentVolumeClaim", "gone-storage", "keep-claim")]
    assert [s.uid for s in found.of("prune")] == [ids["Job/gone-train-1"], ids["ConfigMap/gone-train-1"], ids["ConfigMap/gone-cfg"]]
    assert f"kubectl delete pvc gone-storage -n {ns}" in found.steps[3].note and found.changes
