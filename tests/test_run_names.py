"""Run names (base/train/run-name.yaml): each Job carries the hashed name of the ConfigMap of what it runs, so
a change to what it runs names a new Job and anything else leaves the name alone, with the pinned and the
oldest supported kustomize alike (tests/test_kustomize_oldest.py compares their output byte for byte)."""
import shutil

import pytest

from kube_support import REPO, build, example_folders, examples_repo

PROJECTS = [p for p in example_folders() if "." not in p.name]


def jobs(overlay) -> dict[str, str]:
    """{stage: Job name}."""
    return {d["metadata"]["labels"]["nautilus.io/stage"]: d["metadata"]["name"] for d in build(overlay) if d["kind"] == "Job"}


@pytest.mark.parametrize("overlay", PROJECTS, ids=lambda p: p.name)
def test_every_job_is_named_after_the_configmap_it_mounts(overlay):
    docs = build(overlay)
    configs = {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
    for job in (d for d in docs if d["kind"] == "Job"):
        mounted = {v["configMap"]["name"] for v in job["spec"]["template"]["spec"]["volumes"] if "configMap" in v}
        assert job["metadata"]["name"] in mounted & configs, job["metadata"]["name"]
        assert job["metadata"]["name"].startswith(f"{overlay.name}-{job['metadata']['labels']['nautilus.io/stage']}-")


@pytest.mark.parametrize("edit, changed", [
    (("train.yaml", "batch_size: 1 ", "batch_size: 2 "), {"data", "train"}),            # the config
    (("kustomization.yaml", "newTag: v0.1.0", "newTag: v0.1.1"), {"data", "train"}),    # the image
    (("resources.yaml", "cpu: \"2\"", "cpu: \"3\""), {"train"}),                           # the train pod's requests
    (("storage.yaml", "storage: 50Gi", "storage: 60Gi"), set()),                        # the volume: no new run
])
def test_what_a_job_runs_names_it(tmp_path, edit, changed):
    shutil.copytree(REPO / "base", tmp_path / "base")
    overlay = tmp_path / "overlays" / "horse2zebra"
    shutil.copytree(examples_repo() / "overlays" / "horse2zebra", overlay)
    before = jobs(overlay)
    name, old, new = edit
    text = (overlay / name).read_text()
    assert old in text
    (overlay / name).write_text(text.replace(old, new, 1))
    after = jobs(overlay)
    assert {stage for stage in before if before[stage] != after[stage]} == changed
