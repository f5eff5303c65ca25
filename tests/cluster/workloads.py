"""Reading the cluster the way a person with kubectl would: pods of a Job, where they landed, why not."""
import json

from .controlplane import ControlPlane, wait_until


def pods(cluster: ControlPlane, namespace: str, selector: str) -> list[dict]:
    return cluster.get("pods", "-n", namespace, "-l", selector)["items"]


def unschedulable_message(pod: dict) -> str | None:
    """The scheduler's reason for a Pending pod (PodScheduled=False, Unschedulable), else None."""
    for condition in pod["status"].get("conditions", []):
        if condition["type"] == "PodScheduled" and condition["status"] == "False" and condition.get("reason") == "Unschedulable":
            return condition["message"]
    return None


def wait_for_pods(cluster: ControlPlane, namespace: str, selector: str, count: int, *, running: int = 0,
                  pending: int = 0, timeout: float = 60) -> list[dict]:
    """Wait until `count` pods exist, at least `running` Running and `pending` refused by the scheduler."""
    def settled():
        found = pods(cluster, namespace, selector)
        ok = (len(found) == count
              and sum(p["status"].get("phase") == "Running" for p in found) >= running
              and sum(unschedulable_message(p) is not None for p in found) >= pending)
        return found if ok else None
    return wait_until(settled, timeout, f"{count} pods ({running} running, {pending} unschedulable) matching {selector}")


def node_labels(cluster: ControlPlane) -> dict[str, dict]:
    return {n["metadata"]["name"]: n["metadata"]["labels"] for n in cluster.get("nodes")["items"]}


def provide_volumes(cluster: ControlPlane, namespace: str, objects: list[dict]) -> list[str]:
    """Pre-made volumes, bound in advance to each claim in objects (no provisioner runs here); the names."""
    names = []
    for claim in (o for o in objects if o["kind"] == "PersistentVolumeClaim"):
        name = f"{namespace}-{claim['metadata']['name']}"
        spec = claim["spec"]
        volume = {
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": spec["resources"]["requests"]["storage"]},
                "accessModes": spec["accessModes"],
                "storageClassName": spec.get("storageClassName", "rook-ceph-block"),
                "persistentVolumeReclaimPolicy": "Retain",
                "claimRef": {"namespace": namespace, "name": claim["metadata"]["name"]},
                # A stand-in source: binding and scheduling look only at class, size and access modes.
                "hostPath": {"path": f"/var/lib/nautilus-test/{name}"},
            },
        }
        cluster.kubectl("apply", "-f", "-", input=json.dumps(volume))
        names.append(name)
    return names
