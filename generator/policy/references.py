"""What an overlay's Jobs need from the same overlay: a ConfigMap a Job's pods mount or read their environment
from, and do not mark optional, must be rendered beside it. Otherwise each pod waits in ContainerCreating, its
GPU held, until the Job's deadline. Only Jobs (and CronJobs) of sources kustomize rendered: a plain file may
rely on ConfigMaps already in the namespace, and the dev and results pods on those their project applied."""
from generator.policy.workload import dig, workload

KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KINDS = ("Job", "CronJob")


def _items(value) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _required(reference) -> str | None:
    """The name of a ConfigMap reference that is not optional, else None."""
    if not isinstance(reference, dict) or reference.get("optional") is True:
        return None
    name = reference.get("name")
    return name if isinstance(name, str) and name else None


def needed(pod: dict) -> set[str]:
    """The ConfigMaps a pod cannot start without: volumes (projected ones too), envFrom and env references."""
    refs = [v.get("configMap") for v in _items(pod.get("volumes"))]
    refs += [s.get("configMap") for v in _items(pod.get("volumes")) for s in _items(dig(v, "projected", "sources"))]
    for container in _items(pod.get("containers")) + _items(pod.get("initContainers")):
        refs += [e.get("configMapRef") for e in _items(container.get("envFrom"))]
        refs += [dig(e, "valueFrom", "configMapKeyRef") for e in _items(container.get("env"))]
    return {name for name in map(_required, refs) if name}


def findings(docs: list[dict], source_file: str) -> list[tuple[dict, str, str]]:
    """(object, rule id, detail): configmap-missing on every Job of a rendered overlay that needs a ConfigMap
    the overlay does not render."""
    if not source_file.endswith(KUSTOMIZATIONS):
        return []
    rendered = {dig(o, "metadata", "name") for o in docs if o.get("kind") == "ConfigMap"}
    found = []
    for obj in docs:
        owned = workload(obj) if obj.get("kind") in KINDS else None
        for name in sorted(needed(owned.pod) - rendered) if owned else ():
            found.append((obj, "configmap-missing", f"needs ConfigMap {name}, which this overlay does not render"))
    return found
