"""The bases: every stage renders alone, passes kubeconform -strict and meets NRP's rules by construction."""
from fractions import Fraction

import pytest
from ruamel.yaml import YAML

from generator.core import quantity
from generator.policy.workload import workload
from kube_support import REPO, build, downward_env, example_folders, examples_repo, kubeconform_strict, run_name

POLICY = YAML(typ="safe").load((REPO / "schemas/policy.yaml").read_text())
STAGES = ["storage", "data", "train"]
DEPRECATED = {"commonLabels", "patchesStrategicMerge", "patchesJson6902", "vars", "bases", "imageTags"}


def pod_specs(docs):
    for doc in docs:
        if doc["kind"] == "Job":
            yield doc, doc["spec"]["template"]["spec"]
        elif doc["kind"] == "Pod":
            yield doc, doc["spec"]


@pytest.mark.parametrize("stage", STAGES)
def test_stage_renders_alone_and_passes_kubeconform(stage):
    result = kubeconform_strict(REPO / "base" / stage)
    assert result.returncode == 0, result.stdout
    for doc in build(REPO / "base" / stage):
        labels = doc["metadata"]["labels"]
        assert labels["nautilus.io/stage"] == labels["app.kubernetes.io/component"] == stage
        assert labels["app.kubernetes.io/part-of"] == "nautilus-ml-template"


def test_kustomize_v5_fields_only():
    for path in (REPO / "base").rglob("kustomization.yaml"):
        assert not DEPRECATED & set(YAML(typ="safe").load(path.read_text())), path


@pytest.mark.parametrize("overlay", [p.name for p in example_folders()])
def test_every_pod_meets_nrp_rules(overlay):
    ratio_max = Fraction(str(POLICY["requests"]["limit_ratio_max"]))
    pods = list(pod_specs(build(examples_repo() / "overlays" / overlay)))
    assert pods
    for doc, spec in pods:
        security = spec["securityContext"]
        assert security["runAsNonRoot"] and security["runAsUser"] == 1000
        assert security["seccompProfile"]["type"] == "RuntimeDefault"
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "shm" not in volumes or volumes["shm"]["emptyDir"]["medium"] == "Memory"  # the results pod has none
        for container in spec.get("initContainers", []) + spec["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
            requests, limits = container["resources"]["requests"], container["resources"]["limits"]
            for key in ("cpu", "memory", "ephemeral-storage"):
                assert quantity.parse(requests[key]) <= quantity.parse(limits[key]) <= ratio_max * quantity.parse(requests[key])
            gpus = {k: v for k, v in limits.items() if k.startswith("nvidia.com/")}
            assert gpus == {k: v for k, v in requests.items() if k.startswith("nvidia.com/")}
            mounts = {m["name"] for m in container["volumeMounts"]}
            if "shm" in mounts:
                assert quantity.parse(volumes["shm"]["emptyDir"]["sizeLimit"]) < quantity.parse(limits["memory"])
        if "scratch" in volumes:  # backed by the pod's request (the small init container `prepare` runs before, not beside)
            assert quantity.parse(volumes["scratch"]["emptyDir"]["sizeLimit"]) <= workload(doc).total("ephemeral-storage")
        if doc["kind"] == "Job":
            job = doc["spec"]
            assert spec["restartPolicy"] == "Never" and job["backoffLimit"] >= 0
            assert job["ttlSecondsAfterFinished"] > 0 and job["activeDeadlineSeconds"] > 0
            rules = job["podFailurePolicy"]["rules"]
            assert {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]} in rules
            assert any(r["action"] == "FailJob" and 2 in r["onExitCodes"]["values"] for r in rules)
        else:
            assert spec["activeDeadlineSeconds"] <= POLICY["workloads"]["interactive_pod"]["max_runtime_seconds"]
            assert int(spec["containers"][0]["resources"]["limits"].get("nvidia.com/gpu", 0)) <= 2


def test_data_job_stays_off_gpu_nodes_and_train_prepares_first():
    docs = {run_name(d["metadata"]["name"]): d for d in build(examples_repo() / "overlays/horse2zebra") if d["kind"] == "Job"}
    data = docs["horse2zebra-data"]["spec"]["template"]["spec"]
    term = data["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"] == [{"key": POLICY["gpu"]["gpu_node_label"], "operator": "NotIn", "values": ["true"]}]
    assert not any(k.startswith("nvidia.com/") for k in data["containers"][0]["resources"]["limits"])
    train = docs["horse2zebra-train"]["spec"]["template"]["spec"]
    prepare = "python -m trainer.prepare --config /etc/nautilus/train.yaml --root /data"
    assert " ".join(data["containers"][0]["command"]) == prepare
    assert " ".join(train["initContainers"][0]["command"]) == f"{prepare} --published-only"  # checks, never prepares
    assert " ".join(train["containers"][0]["command"] + train["containers"][0]["args"]) == \
        "torchrun --nproc-per-node=gpu -m trainer.train --config /etc/nautilus/train.yaml --root /data"


@pytest.mark.parametrize("overlay", [p.name for p in example_folders() if not p.name.endswith(".results")])
def test_every_container_sees_its_own_requests(overlay):
    """The downward API hands each container its requests, limits, project and stage (trainer/usage.py)."""
    from trainer.usage import Requests

    pods = list(pod_specs(build(examples_repo() / "overlays" / overlay)))
    stages = set()
    for doc, spec in pods:
        meta = doc["spec"]["template"]["metadata"] if doc["kind"] == "Job" else doc["metadata"]
        for container in spec.get("initContainers", []) + spec["containers"]:
            for var in container["env"]:
                assert "containerName" not in var.get("valueFrom", {}).get("resourceFieldRef", {}), "its own, always"
            seen = Requests.from_env(downward_env({"metadata": meta}, container))
            resources = container["resources"]
            assert Fraction(str(seen.cpu)) == quantity.parse(resources["requests"]["cpu"])
            assert Fraction(str(seen.cpu_limit)) == quantity.parse(resources["limits"]["cpu"])
            assert seen.memory == quantity.parse(resources["requests"]["memory"])
            assert seen.memory_limit == quantity.parse(resources["limits"]["memory"])
            assert seen.project == overlay.removesuffix(".dev")
            stages.add(seen.stage)
    assert stages == ({"dev"} if overlay.endswith(".dev") else {"data", "train"})
