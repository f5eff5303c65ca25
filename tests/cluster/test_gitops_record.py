"""The record of what `nautilus gitops apply` applied (generator/deploy/record.py), read and written in a
namespace of the control plane: the ConfigMap a user can `kubectl get`, its commit annotation, its bound."""
import json

import pytest

from generator.deploy import record
from generator.deploy.record import Record
from generator.deploy.settings import settings
from trainer.errors import UsageError

OVERLAYS = {"a": {"objects": [{"kind": "ConfigMap", "name": "a-config", "uid": "u1"}], "runs": ["a-run"]},
            "b": {"objects": [{"kind": "Job", "name": "b-run", "uid": "u2"}], "runs": ["b-run", "b-older"]}}
BOUND = 512 * 1024  # characters of record text: the 512 KiB the error names, half of what a ConfigMap holds


def record_map(namespace: str, text: str | None, commit: str | None = "abc") -> dict:
    """The record ConfigMap as a person or an older version might have left it."""
    meta = {"name": settings()["record"], "namespace": namespace}
    if commit is not None:
        meta["annotations"] = {settings()["commit_annotation"]: commit}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
            **({"data": {settings()["record_key"]: text}} if text is not None else {})}


def create(cluster, obj: dict) -> None:
    cluster.kubectl("create", "-f", "-", input=json.dumps(obj))


def padded(size: int) -> dict:
    """Overlays whose record text, as written, is exactly size characters."""
    overlays = {"a": {"objects": [], "runs": ["x"]}}
    base = len(json.dumps({"overlays": overlays}, sort_keys=True, indent=1))
    overlays["a"]["runs"] = ["x" * (size - base + 1)]
    assert len(json.dumps({"overlays": overlays}, sort_keys=True, indent=1)) == size
    return overlays


def version(cluster, namespace: str) -> str:
    return cluster.get("configmap", settings()["record"], "-n", namespace)["metadata"]["resourceVersion"]


def test_a_namespace_never_applied_to_has_an_empty_record(kube):
    """Before the first apply there is no record: nothing recorded, no commit, no ConfigMap."""
    found, live = record.read(kube)
    assert found == Record() and found.commit == "" and found.overlays == {} and live is None


def test_a_written_record_reads_back_with_its_commit(kube, cluster, namespace):
    """What is written is what the next deploy reads: the commit and every overlay's objects and runs, in the
    ConfigMap named in gitops.yaml, labelled as ours and annotated with the commit."""
    record.write(kube, Record("c0ffee", json.loads(json.dumps(OVERLAYS))), None)
    found, live = record.read(kube)
    assert found == Record("c0ffee", OVERLAYS)
    assert live["metadata"]["name"] == settings()["record"]
    shown = cluster.get("configmap", settings()["record"], "-n", namespace)
    assert shown["metadata"]["labels"]["app.kubernetes.io/managed-by"] == settings()["field_manager"]
    assert shown["metadata"]["annotations"][settings()["commit_annotation"]] == "c0ffee"
    assert json.loads(shown["data"][settings()["record_key"]]) == {"overlays": OVERLAYS}


def test_the_commit_is_read_from_the_annotation(kube, cluster, namespace):
    """The last applied commit comes from the annotation; a record without data or annotation reads as empty."""
    create(cluster, record_map(namespace, json.dumps({"overlays": OVERLAYS}), commit="1234abc"))
    found, live = record.read(kube)
    assert found == Record("1234abc", OVERLAYS) and live["metadata"]["uid"]
    cluster.kubectl("delete", "configmap", settings()["record"], "-n", namespace)
    create(cluster, record_map(namespace, None, commit=None))
    found, live = record.read(kube)
    assert found == Record() and live is not None


@pytest.mark.parametrize("text", [
    "{not json", "[1, 2]", '"overlays"', '{"overlays": ["a"]}', '{"overlays": "a"}',
    json.dumps({"overlays": padded(BOUND + 1)}, sort_keys=True, indent=1),
], ids=["not-json", "a-list", "a-string", "overlays-a-list", "overlays-a-string", "over-the-bound"])
def test_a_record_edited_into_nonsense_reads_as_empty(kube, cluster, namespace, text):
    """A record that is not JSON, not an object, whose overlays are not a mapping, or that is larger than the
    bound reads as recording nothing (so nothing is pruned from it); the commit still reads."""
    create(cluster, record_map(namespace, text))
    found, live = record.read(kube)
    assert found == Record("abc", {}) and live is not None


def test_a_record_of_exactly_the_bound_reads(kube, cluster, namespace):
    """The bound is inclusive: a record of exactly 512 KiB is read as written."""
    overlays = padded(BOUND)
    create(cluster, record_map(namespace, json.dumps({"overlays": overlays}, sort_keys=True, indent=1)))
    assert record.read(kube)[0] == Record("abc", overlays)


def test_a_record_over_the_bound_is_not_written(kube):
    """A record that outgrew 512 KiB stops the deploy with a one-line error saying how to fix it, and nothing
    is written; one of exactly the bound is written."""
    with pytest.raises(UsageError) as raised:
        record.write(kube, Record("abc", padded(BOUND + 1)), None)
    assert "outgrew 512 KiB" in raised.value.what and "runs_kept" in raised.value.fix
    assert "\n" not in str(raised.value)
    assert kube.get("configmap", settings()["record"]) is None
    record.write(kube, Record("abc", padded(BOUND)), None)
    assert record.read(kube)[0] == Record("abc", padded(BOUND))


def test_writing_the_same_record_again_changes_nothing(kube, cluster, namespace):
    """The same commit and content (whatever order the overlays were added in) leave the ConfigMap as it was,
    resourceVersion included; a new commit or new content is written."""
    record.write(kube, Record("c1", {"b": OVERLAYS["b"], "a": OVERLAYS["a"]}), None)
    first = version(cluster, namespace)
    _, live = record.read(kube)
    record.write(kube, Record("c1", {"a": OVERLAYS["a"], "b": OVERLAYS["b"]}), live)
    assert version(cluster, namespace) == first
    record.write(kube, Record("c2", OVERLAYS), record.read(kube)[1])
    assert record.read(kube)[0] == Record("c2", OVERLAYS) and version(cluster, namespace) != first
    second = version(cluster, namespace)
    record.write(kube, Record("c2", {"a": OVERLAYS["a"]}), record.read(kube)[1])
    assert record.read(kube)[0] == Record("c2", {"a": OVERLAYS["a"]}) and version(cluster, namespace) != second


def test_an_unchanged_record_is_left_as_a_person_left_it(kube, cluster, namespace):
    """Writing the same commit and content again sends nothing: a label a person changed on the record stays
    as they set it, and the resourceVersion does not move."""
    record.write(kube, Record("c1", OVERLAYS), None)
    cluster.kubectl("label", "configmap", settings()["record"], "-n", namespace, "--overwrite",
                    "app.kubernetes.io/managed-by=a-person")
    edited = version(cluster, namespace)
    record.write(kube, Record("c1", OVERLAYS), record.read(kube)[1])
    shown = cluster.get("configmap", settings()["record"], "-n", namespace)
    assert shown["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "a-person"
    assert shown["metadata"]["resourceVersion"] == edited


def test_what_an_overlay_recorded():
    """objects and runs of an overlay (none for an unknown one), and which overlay recorded a kind and name."""
    found = Record("c", {"a": {"objects": [{"kind": "ConfigMap", "name": "x", "uid": "1"}], "runs": ["r"]},
                         "b": {"objects": [{"kind": "Job", "name": "x", "uid": "2"}]}, "c": {}})
    assert found.objects("a") == [{"kind": "ConfigMap", "name": "x", "uid": "1"}] and found.runs("a") == ["r"]
    assert found.objects("c") == [] and found.runs("b") == [] and found.objects("z") == [] and found.runs("z") == []
    assert found.overlay_of("ConfigMap", "x") == "a" and found.overlay_of("Job", "x") == "b"
    assert found.overlay_of("Job", "y") is None and found.overlay_of("Service", "x") is None
