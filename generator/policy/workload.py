"""Pod templates inside workload objects, and what their containers ask for."""
from dataclasses import dataclass
from fractions import Fraction

from generator.core import quantity
from generator.core.gpus import resource_names

# Where each built-in kind with a pod template keeps its pod spec, and its API group ("" is core).
POD_SPEC_PATHS = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
}
API_GROUPS = {"Pod": "", "PodTemplate": "", "ReplicationController": "", "Job": "batch", "CronJob": "batch",
              "Deployment": "apps", "StatefulSet": "apps", "ReplicaSet": "apps", "DaemonSet": "apps"}


def objects(docs: list) -> list:
    """The documents with each `kind: List` replaced by its items, as kubectl and kubeconform read them;
    only objects with a kind (kubeconform reports the rest)."""
    found = []
    for doc in docs:
        items = doc.get("items") if doc.get("kind") == "List" and str(doc.get("apiVersion")) == "v1" else None
        found += items if isinstance(items, list) else [doc]
    return [obj for obj in found if isinstance(obj, dict) and isinstance(obj.get("kind"), str)]


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
            return dig(self.obj, "spec", "jobTemplate", "spec", default={}) or {}
        return (self.obj.get("spec") or {}) if self.kind == "Job" else {}

    def pods_at_once(self) -> int:
        """How many pods of this template run at the same time: a Job's parallelism (at most its
        completions), a controller's replicas; 1 for a bare Pod. A DaemonSet's node count is unknown: 1."""
        if self.kind in ("Job", "CronJob"):
            spec = self.job_spec
            parallelism = spec.get("parallelism", 1)
            return min(parallelism, spec["completions"]) if isinstance(spec.get("completions"), int) else parallelism
        if self.kind in ("Pod", "PodTemplate", "DaemonSet"):
            return 1
        return (self.obj.get("spec") or {}).get("replicas", 1)

    def containers(self, init: bool = True) -> list[dict]:
        found = list(self.pod.get("containers") or [])
        return found + list(self.pod.get("initContainers") or []) if init else found

    def _amount(self, container: dict, resource: str, side: str) -> Fraction:
        return sum((quantity.parse(v) for k, v in resources(container, side).items() if k in resource_names(resource)),
                   Fraction(0))

    def total(self, resource: str, side: str = "requests") -> Fraction:
        """What the pod holds: the sum over containers, or the largest init container when bigger."""
        running = sum((self._amount(c, resource, side) for c in self.pod.get("containers") or []), Fraction(0))
        return max([running, *(self._amount(c, resource, side) for c in self.pod.get("initContainers") or [])])

    def set_by_init(self, resource: str, side: str = "requests") -> str | None:
        """The init container whose amount is the pod's (larger than the containers' sum), if one is."""
        running = sum((self._amount(c, resource, side) for c in self.pod.get("containers") or []), Fraction(0))
        larger = [(self._amount(c, resource, side), str(c.get("name"))) for c in self.pod.get("initContainers") or []
                  if self._amount(c, resource, side) > running]
        return max(larger)[1] if larger else None

    def gpus(self) -> Fraction:
        return self.total("gpu", "limits") or self.total("gpu", "requests")


def workload(obj: dict) -> Workload | None:
    """The pod template of a built-in workload kind (a custom resource named Job is not one)."""
    kind, api_version = obj.get("kind"), str(obj.get("apiVersion") or "")
    path = POD_SPEC_PATHS.get(kind)
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    pod = dig(obj, *path) if path and API_GROUPS[kind] == group else None
    return Workload(obj, pod) if isinstance(pod, dict) else None


def resources(container: dict, side: str) -> dict:
    return dig(container, "resources", side, default={}) or {}


def mounts(pod: dict, volume_name: str) -> list[dict]:
    """The containers (and init containers) that mount a volume."""
    containers = list(pod.get("containers") or []) + list(pod.get("initContainers") or [])
    return [c for c in containers if any(m.get("name") == volume_name for m in c.get("volumeMounts") or [])]
