"""The committed example overlays (overlays/examples.yaml): the generator reproduces them byte for byte, and each
renders clean. Other folders in overlays/ are users' own projects: `nautilus validate --all` checks those."""
import tempfile
from pathlib import Path

import pytest

from kube_support import build, by_kind_name, example_folders, examples, examples_repo, kubeconform_strict, nautilus, run_name, tree

EXAMPLES = examples()
REPO = examples_repo()  # the working tree, or a copy with the examples where a fork removed them
FOLDERS = [p.name for p in example_folders()]


def test_every_example_is_committed():
    missing = [name for name in FOLDERS if not (REPO / "overlays" / name / "kustomization.yaml").is_file()]
    assert not missing, f"overlays/examples.yaml lists {missing}: write them with their command"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_generator_reproduces_committed_overlay(name):
    # A sibling of overlays/, so the written paths to base/ are the committed ones.
    with tempfile.TemporaryDirectory(dir=REPO, prefix=".overlays-drift-") as out:
        out = Path(out)
        result = nautilus("new", *EXAMPLES[name], "--output-dir", out)
        assert result.exit_code == 0, result.output
        written = sorted(p.name for p in out.iterdir())
        assert name in written
        for folder in written:
            assert tree(out / folder) == tree(REPO / "overlays" / folder), f"overlays/{folder} drifted: rerun its command"


@pytest.mark.parametrize("name", FOLDERS)
def test_committed_overlay_passes_kubeconform_strict(name):
    result = kubeconform_strict(REPO / "overlays" / name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Invalid: 0, Errors: 0" in result.stdout


def test_two_node_overlay_names_follow_the_prefix():
    objects = by_kind_name(build(REPO / "overlays/horse2zebra-2node"))
    job = objects[("Job", "horse2zebra-2node-train")]
    service = objects[("Service", "horse2zebra-2node-train")]
    pod = job["spec"]["template"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 2
    assert env["PET_NNODES"]["value"] == "2"
    assert pod["subdomain"] == service["metadata"]["name"]
    assert service["spec"]["clusterIP"] == "None"
    # the Service selects exactly this project's train pods
    assert set(service["spec"]["selector"].items()) <= set(job["spec"]["template"]["metadata"]["labels"].items())
    assert service["spec"]["selector"]["app.kubernetes.io/instance"] == "horse2zebra-2node"
    # rendezvous host = pod 0 of the Job through the Service of the same (prefixed) name
    assert env["JOB_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['batch.kubernetes.io/job-name']"
    assert env["PET_MASTER_ADDR"]["value"] == "$(JOB_NAME)-0.$(JOB_NAME)"
    assert job["metadata"]["name"] == service["metadata"]["name"]
    names = [e["name"] for e in pod["containers"][0]["env"]]
    assert names.index("JOB_NAME") < names.index("PET_MASTER_ADDR")  # $(VAR) expands only earlier variables
    assert env["PET_NODE_RANK"]["valueFrom"]["fieldRef"]["fieldPath"] == \
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"


def test_plain_apply_starts_no_dev_pod_and_the_dev_overlay_only_the_pod():
    project = build(REPO / "overlays/horse2zebra")
    assert "Pod" not in {d["kind"] for d in project}
    dev = build(REPO / "overlays/horse2zebra.dev")
    assert [(d["kind"], d["metadata"]["name"], d["metadata"]["namespace"]) for d in dev] == \
        [("Pod", "horse2zebra-dev", "gp-engine-lab")]
    train = next(d for d in project if d["kind"] == "Job" and run_name(d["metadata"]["name"]) == "horse2zebra-train")
    pod, train_pod = dev[0]["spec"], train["spec"]["template"]["spec"]
    assert pod["volumes"] == train_pod["volumes"]
    assert pod["affinity"] == train_pod["affinity"]
    assert pod["containers"][0]["image"] == train_pod["containers"][0]["image"]
    assert pod["containers"][0]["resources"] == train_pod["containers"][0]["resources"]
    assert 0 < pod["activeDeadlineSeconds"] <= 21600
    assert "infinity" not in " ".join(pod["containers"][0]["command"])
