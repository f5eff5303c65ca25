"""Pod templates inside workload objects, and what their containers ask for."""
from dataclasses import dataclass
from fractions import Fraction

from .. import quantity
from .table import policy

# Where each workload kind keeps its pod spec.
POD_SPEC_PATHS = {
    "Pod": ("spec",),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
}


def dig(node, *keys, default=None):
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


@dataclass
class Workload:
    obj: dict
    pod: dict

    @property
    def kind(self) -> str:
        return self.obj["kind"]

    @property
    def annotations(self) -> dict:
        return dig(self.obj, "metadata", "annotations", default={}) or {}

    @property
    def job_spec(self) -> dict:
        """The Job spec of a Job or CronJob; {} otherwise."""
        if self.kind == "CronJob":
            return dig(self.obj, "spec", "jobTemplate", "spec", default={})
        return self.obj.get("spec", {}) if self.kind == "Job" else {}

    def containers(self, init: bool = True) -> list[dict]:
        found = list(self.pod.get("containers") or [])
        return found + list(self.pod.get("initContainers") or []) if init else found

    def total(self, resource: str, side: str = "requests") -> Fraction:
        """What the pod holds: the sum over containers, or the largest init container when bigger."""
        def amount(container):
            return sum((quantity.parse(v) for k, v in resources(container, side).items() if k in resource_names(resource)),
                       Fraction(0))
        running = sum((amount(c) for c in self.pod.get("containers") or []), Fraction(0))
        return max([running, *(amount(c) for c in self.pod.get("initContainers") or [])])

    def gpus(self) -> Fraction:
        return self.total("gpu", "limits") or self.total("gpu", "requests")


def workload(obj: dict) -> Workload | None:
    path = POD_SPEC_PATHS.get(obj.get("kind"))
    pod = dig(obj, *path) if path else None
    return Workload(obj, pod) if isinstance(pod, dict) else None


def resources(container: dict, side: str) -> dict:
    return dig(container, "resources", side, default={}) or {}


def gpu_resources() -> set[str]:
    gpu = policy()["gpu"]
    return {gpu["resource"], *gpu["special_resources"]}


def resource_names(resource: str) -> set[str]:
    return gpu_resources() if resource == "gpu" else {resource}


def mounts(pod: dict, volume_name: str) -> list[dict]:
    """The containers (and init containers) that mount a volume."""
    containers = list(pod.get("containers") or []) + list(pod.get("initContainers") or [])
    return [c for c in containers if any(m.get("name") == volume_name for m in c.get("volumeMounts") or [])]
