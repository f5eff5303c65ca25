"""The simulated NRP cluster itself: the pinned release, nodes like NRP's, its storage and priority
classes, and a scheduler and kwok that behave as the template's tests rely on."""
import json
import uuid

from ruamel.yaml import YAML

from kube_support import REPO

POLICY = REPO / "schemas" / "policy.yaml"

from .controlplane import FIXTURES, TEST_NAMESPACE_PREFIX, ControlPlane, wait_until
from .workloads import node_labels, unschedulable_message, wait_for_pods

POLICY_DATA = YAML(typ="safe").load(POLICY.read_text())


def test_runs_the_pinned_kubernetes_release(cluster):
    versions = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert versions["serverVersion"]["gitVersion"] == "v1.33.13"
    assert versions["clientVersion"]["gitVersion"] == "v1.33.13"


def test_nodes_look_like_nrp(cluster):
    nodes = {n["metadata"]["name"]: n for n in cluster.get("nodes")["items"]}
    assert cluster.ready_nodes() == len(nodes)
    gpu = {name: n for name, n in nodes.items() if "nvidia.com/gpu.product" in n["metadata"]["labels"]}
    products = {n["metadata"]["labels"]["nvidia.com/gpu.product"] for n in gpu.values()}
    assert products <= set(POLICY_DATA["gpu"]["products"]) and len(products) >= 5
    # kwok's status updates keep the capacity the node registered with
    for n in gpu.values():
        capacity = n["status"]["capacity"]
        assert capacity.get("nvidia.com/gpu", capacity.get("nvidia.com/a100")) == "8"
    assert any("nvidia.com/a100" in n["status"]["capacity"] for n in gpu.values())
    cpu_only = [n for n in nodes.values() if "nvidia.com/gpu.product" not in n["metadata"]["labels"]]
    assert cpu_only and all("nvidia.com/gpu" not in n["status"]["capacity"] for n in cpu_only)
    tainted = [name for name, n in nodes.items() if any(t["key"] == "nautilus.io/system" for t in n["spec"].get("taints", []))]
    assert len(tainted) == 1
    assert {n["metadata"]["labels"]["topology.kubernetes.io/region"] for n in nodes.values()} >= {"us-west", "us-central", "us-east"}


def test_storage_and_priority_classes_are_nrps(cluster):
    classes = {c["metadata"]["name"]: c for c in cluster.get("storageclasses")["items"]}
    assert set(classes) == set(POLICY_DATA["storage_classes"])
    defaults = [name for name, c in classes.items()
                if c["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true"]
    assert defaults == ["rook-ceph-block"]
    priorities = {p["metadata"]["name"] for p in cluster.get("priorityclasses")["items"]}
    assert set(POLICY_DATA["priority_classes"]["allowed"]) <= priorities


def test_gpu_pods_fill_the_requested_product_and_avoid_the_system_node(cluster, namespace):
    cluster.kubectl("apply", "-n", namespace, "-f", str(FIXTURES / "probe-job.yaml"))
    found = wait_for_pods(cluster, namespace, "job-name=probe", 10, running=8, pending=2)
    labels = node_labels(cluster)
    placed = [p["spec"]["nodeName"] for p in found if p["spec"].get("nodeName")]
    assert len(placed) == 8 and {labels[n]["nvidia.com/gpu.product"] for n in placed} == {"NVIDIA-A10"}
    assert not any(n.startswith("system-") for n in placed)
    for message in filter(None, map(unschedulable_message, found)):
        assert "Insufficient nvidia.com/gpu" in message
        assert "untolerated taint {nautilus.io/system: true}" in message


def test_kwok_ends_a_pod_with_the_annotated_exit_code(cluster, namespace):
    cluster.kubectl("apply", "-n", namespace, "-f", str(FIXTURES / "probe-job.yaml"))
    found = wait_for_pods(cluster, namespace, "job-name=probe", 10, running=8, pending=2)
    name = next(p["metadata"]["name"] for p in found if p["status"].get("phase") == "Running")
    cluster.kubectl("annotate", "pod", "-n", namespace, name, "kwok.nautilus.io/exit-code=3")

    def failed():
        status = cluster.get("pod", "-n", namespace, name)["status"]
        return status if status["phase"] == "Failed" else None
    status = wait_until(failed, 30, f"pod {name} to fail")
    assert status["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
    # backoffLimit 0: the Job controller reacts to the simulated failure by failing the Job
    wait_until(lambda: any(c["type"] == "Failed" and c["status"] == "True"
                           for c in cluster.get("job", "-n", namespace, "probe")["status"].get("conditions", [])),
               30, "the Job to fail")


def test_claim_without_a_volume_waits_for_the_provisioner(cluster, namespace):
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "lonely"},
             "spec": {"storageClassName": "rook-cephfs", "accessModes": ["ReadWriteMany"],
                      "resources": {"requests": {"storage": "1Gi"}}}}
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(claim))

    def provisioning_event():
        events = cluster.get("events", "-n", namespace, "--field-selector", "involvedObject.name=lonely")["items"]
        return [e for e in events if e["reason"] == "ExternalProvisioning"]
    event = wait_until(provisioning_event, 30, "the claim's ExternalProvisioning event")[0]
    assert "rook-ceph.cephfs.csi.ceph.com" in event["message"]
    assert cluster.get("pvc", "-n", namespace, "lonely")["status"]["phase"] == "Pending"


def test_a_second_run_attaches_to_a_running_control_plane_and_clears_a_killed_runs_namespaces(cluster):
    """What bench/mutation.py relies on: a run attached through NAUTILUS_TEST_CONTROLPLANE talks to the same
    API server, starts from no namespace of an earlier run that was killed before its teardown, and leaves
    the control plane running when it ends."""
    leftover = f"{TEST_NAMESPACE_PREFIX}left-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", leftover)
    cluster.kubectl("create", "namespace", "kept-by-someone-else")
    attached = ControlPlane.attached(cluster.dir)
    assert (attached.server, attached.kubeconfig) == (cluster.server, cluster.kubeconfig)
    attached.delete_test_namespaces()

    def gone_or_terminating(name: str) -> bool:
        proc = cluster.kubectl("get", "namespace", name, "-o", "json", check=False)
        return proc.returncode != 0 or json.loads(proc.stdout)["status"]["phase"] == "Terminating"
    wait_until(lambda: gone_or_terminating(leftover), 30, f"namespace {leftover} to be deleted")
    assert not gone_or_terminating("kept-by-someone-else")
    cluster.kubectl("delete", "namespace", "kept-by-someone-else", "--wait=false")
    attached.stop()
    assert cluster.kubectl("get", "nodes", "-o", "name").stdout.count("node/") == len(cluster.get("nodes")["items"]) > 0
