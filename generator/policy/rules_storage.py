"""Coded rules on volumes: NRP storage classes and the access modes each supports; mounts the API server refuses."""
from collections import Counter

from generator.core.schemas import policy
from generator.policy.registry import coded
from generator.policy.workload import Workload


@coded("storage-class")
def storage_class(claim: dict, _):
    name = (claim.get("spec") or {}).get("storageClassName")
    classes = policy()["storage_classes"]
    if name not in classes:
        yield f"storageClassName {name or '(unset)'} is not an NRP class ({', '.join(classes)})"


@coded("storage-access-mode")
def storage_access_mode(claim: dict, _):
    spec = claim.get("spec") or {}
    supported = policy()["storage_classes"].get(spec.get("storageClassName"))
    for mode in spec.get("accessModes") or []:
        if supported is not None and mode not in supported:
            yield f"{spec['storageClassName']} does not support {mode} (only {', '.join(supported)})"


def _twice(names) -> list[str]:
    return sorted(name for name, seen in Counter(names).items() if seen > 1)


@coded("volume-mount")
def volume_mount(w: Workload, _):
    volumes = {volume.get("name") for volume in w.pod.get("volumes") or []}
    for container in w.containers():
        mounts = container.get("volumeMounts") or []
        for name in sorted({m.get("name") for m in mounts} - volumes, key=str):
            yield f"container {container.get('name')} mounts {name}, which is not a volume of the pod"
        for path in _twice(m.get("mountPath") for m in mounts):
            yield f"container {container.get('name')} mounts two volumes at {path}"


@coded("name-duplicate")
def name_duplicate(w: Workload, _):
    for name in _twice(c.get("name") for c in w.containers()):
        yield f"two containers (or init containers) are named {name}"
    for name in _twice(v.get("name") for v in w.pod.get("volumes") or []):
        yield f"two volumes are named {name}"
    for container in w.containers():
        for name in _twice(p.get("name") for p in container.get("ports") or [] if p.get("name")):
            yield f"container {container.get('name')} has two ports named {name}"
