"""The multinode component: an Indexed train Job whose pods find each other through a headless Service."""
import pytest

from generator.render.kustomize import load_documents, render

from .controlplane import wait_until
from .overlays import committed
from .workloads import wait_for_pods


def _indexed(path) -> bool:
    return any(o["kind"] == "Job" and o["spec"].get("completionMode") == "Indexed" for o in load_documents(render(path)))


MULTINODE = [p for p in committed() if _indexed(p)]


def test_a_committed_overlay_uses_the_multinode_component():
    assert MULTINODE, "no committed overlay renders an Indexed Job"


@pytest.mark.parametrize("path", MULTINODE, ids=lambda p: p.name)
def test_indexed_pods_are_named_and_listed_by_the_headless_service(cluster, open_overlay, path):
    overlay = open_overlay(path)
    overlay.apply()
    job = next(j for j in overlay.jobs("train") if j["spec"].get("completionMode") == "Indexed")
    name, nodes = job["metadata"]["name"], job["spec"]["completions"]
    pods = wait_for_pods(cluster, overlay.namespace, f"batch.kubernetes.io/job-name={name}", nodes, running=nodes)
    by_index = {int(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]): p for p in pods}
    assert sorted(by_index) == list(range(nodes))
    service = next(o for o in overlay.objects if o["kind"] == "Service")
    assert service["spec"]["clusterIP"] == "None"
    for index, pod in by_index.items():  # DNS name <job>-<index>.<service>, as PET_MASTER_ADDR expects
        assert pod["spec"]["hostname"] == f"{name}-{index}"
        assert pod["spec"]["subdomain"] == service["metadata"]["name"] == name

    def listed():
        slices = cluster.get("endpointslices", "-n", overlay.namespace,
                             "-l", f"kubernetes.io/service-name={service['metadata']['name']}")["items"]
        endpoints = [e for s in slices for e in s.get("endpoints") or []]
        return endpoints if len(endpoints) == nodes else None
    endpoints = wait_until(listed, 60, "the Service's endpoints")
    assert {e["hostname"] for e in endpoints} == {f"{name}-{i}" for i in range(nodes)}
    assert {e["targetRef"]["name"]: e["addresses"][0] for e in endpoints} == \
        {p["metadata"]["name"]: p["status"]["podIP"] for p in pods}
