"""Every committed overlay, and one `nautilus new` writes, against the real API server and scheduler:
accepted, applied, re-applied without change, scheduled where NRP would run it, and deleted."""
from fractions import Fraction

import pytest

from generator.core import quantity
from kube_support import downward_env
from trainer.usage import Requests

from .controlplane import wait_until
from .overlays import GENERATED, committed
from .workloads import node_labels, wait_for_pods

COMMITTED = committed()
DEV = [p for p in COMMITTED if p.name.endswith(".dev")]  # only the dev pod; its project is applied beside it
RESULTS = [p for p in COMMITTED if p.name.endswith(".results")]  # only the results pod, likewise
PROJECTS = [p for p in COMMITTED if p not in DEV + RESULTS]


def test_the_listed_examples_are_there():
    """Every example overlays/examples.yaml lists is there (where a fork removed them, rebuilt from
    tests/examples.yaml in a temporary copy; the overlays `nautilus new` writes here, GENERATED, are applied too)."""
    assert all((p / "kustomization.yaml").is_file() for p in COMMITTED), COMMITTED


@pytest.fixture(params=[*COMMITTED, *GENERATED], ids=lambda p: getattr(p, "name", p))
def overlay(request, open_overlay, generated_overlays):
    return open_overlay(generated_overlays.get(request.param) or request.param)


@pytest.fixture(params=[*PROJECTS, *GENERATED], ids=lambda p: getattr(p, "name", p))
def project(request, open_overlay, generated_overlays):
    return open_overlay(generated_overlays.get(request.param) or request.param)


def test_apply_reapply_delete(overlay):
    dry = overlay.kubectl("apply", "--server-side", "--dry-run=server").stdout.splitlines()
    assert len(dry) == len(overlay.objects) and all(line.endswith("(server dry run)") for line in dry), dry
    assert overlay.live() == [], "a dry run must not create anything"

    applied = overlay.apply().splitlines()
    assert len(applied) == len(overlay.objects) and all(line.endswith(" created") for line in applied), applied
    before = {(o["kind"], o["metadata"]["name"]): o for o in overlay.live()}
    assert len(before) == len(overlay.objects)

    again = overlay.apply().splitlines()
    assert all(line.endswith(" unchanged") for line in again), again
    after = {(o["kind"], o["metadata"]["name"]): o for o in overlay.live()}
    for key, obj in after.items():  # the spec was not touched and nothing was recreated
        assert obj["metadata"]["uid"] == before[key]["metadata"]["uid"], key
        assert obj["metadata"].get("generation") == before[key]["metadata"].get("generation"), key

    overlay.delete()
    assert overlay.live() == []
    assert not any(overlay.pods(stage) for stage in ("data", "train"))


def test_jobs_land_on_the_right_nodes(cluster, project):
    assert project.jobs("train") and project.jobs("data")
    project.apply()
    labels = node_labels(cluster)
    for job in project.jobs("train"):
        wanted = set(_required_products(job))
        count = job["spec"].get("parallelism", 1)
        for pod in wait_for_pods(cluster, project.namespace, f"batch.kubernetes.io/job-name={job['metadata']['name']}",
                                 count, running=count):
            node = labels[pod["spec"]["nodeName"]]
            assert "nautilus.io/system" not in _taint_keys(cluster, pod["spec"]["nodeName"])
            assert node.get("feature.node.kubernetes.io/pci-10de.present") == "true"
            if wanted:
                assert node["nvidia.com/gpu.product"] in wanted
            _sees_its_own_requests(pod, "train")
            capacity = cluster.get("node", pod["spec"]["nodeName"])["status"]["capacity"]
            gpus = {r for c in pod["spec"]["containers"] for r in c["resources"].get("limits", {}) if r.startswith("nvidia.com/")}
            assert gpus and gpus <= set(capacity), f"{gpus} not offered by {pod['spec']['nodeName']}"
    for job in project.jobs("data"):
        for pod in wait_for_pods(cluster, project.namespace, f"batch.kubernetes.io/job-name={job['metadata']['name']}",
                                 1, running=1):
            assert "nvidia.com/gpu.product" not in labels[pod["spec"]["nodeName"]], "data work must stay on CPU nodes"
            _sees_its_own_requests(pod, "data")


def _sees_its_own_requests(pod: dict, stage: str) -> None:
    """The live pod, as the Job controller made it and the API server accepted it: each container's
    downward-API variables resolve (as the kubelet resolves them) to that container's own requests."""
    for container in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]:
        seen = Requests.from_env(downward_env(pod, container))
        requests, limits = container["resources"]["requests"], container["resources"]["limits"]
        assert (Fraction(str(seen.cpu)), seen.memory) == (quantity.parse(requests["cpu"]), quantity.parse(requests["memory"]))
        assert (Fraction(str(seen.cpu_limit)), seen.memory_limit) == (quantity.parse(limits["cpu"]), quantity.parse(limits["memory"]))
        assert seen.project == pod["metadata"]["labels"]["app.kubernetes.io/instance"] and seen.stage == stage


def _required_products(job: dict) -> list[str]:
    terms = (job["spec"]["template"]["spec"].get("affinity", {}).get("nodeAffinity", {})
             .get("requiredDuringSchedulingIgnoredDuringExecution", {}).get("nodeSelectorTerms", []))
    return [value for term in terms for expr in term.get("matchExpressions", [])
            if expr["key"] == "nvidia.com/gpu.product" and expr["operator"] == "In" for value in expr["values"]]


def _taint_keys(cluster, node: str) -> set[str]:
    return {t["key"] for t in cluster.get("node", node)["spec"].get("taints", [])}



def test_a_committed_overlay_has_a_dev_pod():
    assert DEV, "no committed <project>.dev overlay"


@pytest.mark.parametrize("path", DEV, ids=lambda p: p.name)
def test_dev_pod_runs_on_a_gpu_node_beside_its_project(cluster, open_overlay, path):
    project = open_overlay(path.with_name(path.name.removesuffix(".dev")))
    project.apply()  # the dev pod mounts the project's volume and config
    dev = open_overlay(path)
    dev.apply()
    pod = next(o for o in dev.objects if o["kind"] == "Pod")
    name = pod["metadata"]["name"]

    def running():
        live = cluster.get("pod", "-n", dev.namespace, name)
        return live if live["status"].get("phase") == "Running" else None
    node = wait_until(running, 60, f"the dev pod {name} to run")["spec"]["nodeName"]
    assert node_labels(cluster)[node].get("feature.node.kubernetes.io/pci-10de.present") == "true"
    assert "nautilus.io/system" not in _taint_keys(cluster, node)
    assert 0 < pod["spec"]["activeDeadlineSeconds"] <= 6 * 3600  # NRP ends interactive pods after 6 h


@pytest.mark.parametrize("path", RESULTS, ids=lambda p: p.name)
def test_results_pod_runs_on_a_cpu_node_without_a_gpu(cluster, open_overlay, path):
    project = open_overlay(path.with_name(path.name.removesuffix(".results")))
    project.kubectl("apply", "-l", "nautilus.io/stage=storage")  # the volume alone: no Job, no GPU
    results = open_overlay(path)
    results.apply()
    name = next(o for o in results.objects if o["kind"] == "Pod")["metadata"]["name"]

    def running():
        live = cluster.get("pod", "-n", results.namespace, name)
        return live if live["status"].get("phase") == "Running" else None
    pod = wait_until(running, 60, f"the results pod {name} to run")
    assert "nvidia.com/gpu.product" not in node_labels(cluster)[pod["spec"]["nodeName"]]
    assert not any(r.startswith("nvidia.com/") for c in pod["spec"]["containers"] for r in c["resources"]["limits"])
    assert [p["metadata"]["name"] for p in cluster.get("pods", "-n", results.namespace)["items"]] == [name]  # nothing else
