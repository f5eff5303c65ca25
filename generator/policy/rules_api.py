"""Coded rules for what the API server refuses in a pod and a schema cannot say: fields an init container may
or may not have, hugepages in whole pages, exit codes in order, the size of a ConfigMap. Field formats, ranges and enumerations are schema rules (api-*)."""
from generator.core import quantity
from generator.core.schemas import policy
from generator.policy.registry import coded
from generator.policy.workload import Workload, resources

SIDECAR = "Always"                                   # an init container with this restartPolicy runs beside the others
INIT_ONLY_FIELDS = ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe")


def _init_container_problems(container: dict) -> list[str]:
    policy = container.get("restartPolicy")
    if policy is not None and policy != SIDECAR:
        return [f"restartPolicy {policy} (an init container may only set {SIDECAR}, which makes it a sidecar)"]
    if policy == SIDECAR:
        return []
    return [f"{field} (only a sidecar init container, restartPolicy {SIDECAR}, may have one)"
            for field in INIT_ONLY_FIELDS if field in container]


@coded("container-fields")
def container_fields(w: Workload, _):
    for container in w.pod.get("containers") or []:
        if "restartPolicy" in container:
            yield f"container {container.get('name')} sets restartPolicy, which only init containers may set"
    for container in w.pod.get("initContainers") or []:
        for problem in _init_container_problems(container):
            yield f"init container {container.get('name')} sets {problem}"


def _page_size(name: str):
    try:
        return quantity.parse(name.removeprefix("hugepages-"))
    except ValueError:
        return None


@coded("hugepages-size")
def hugepages_size(container: dict, _):
    for side in ("requests", "limits"):
        for name, amount in resources(container, side).items():
            page = _page_size(str(name)) if str(name).startswith("hugepages-") else None
            if not page:
                continue
            try:
                pages = quantity.parse(amount) / page
            except ValueError:
                continue  # the quantity rule reports it
            if pages.denominator != 1 or pages < 0:
                yield f"{side}.{name} {amount} is not a whole number of {name.removeprefix('hugepages-')} pages"


@coded("exit-codes-ordered")
def exit_codes_ordered(w: Workload, _):
    for index, rule in enumerate((w.job_spec.get("podFailurePolicy") or {}).get("rules") or []):
        values = ((rule or {}).get("onExitCodes") or {}).get("values") or []
        if all(isinstance(v, int) for v in values) and values != sorted(values):
            yield f"podFailurePolicy.rules[{index}].onExitCodes.values {values} are not in ascending order"


def _data_size(obj: dict) -> int:
    total = 0
    for field in ("data", "binaryData"):
        mapping = obj.get(field) or {}
        if isinstance(mapping, dict):
            total += sum(len(str(k).encode()) + len(str(v).encode()) for k, v in mapping.items())
    return total


@coded("configmap-key-twice")
def configmap_key_twice(obj: dict, _):
    data, binary = obj.get("data") or {}, obj.get("binaryData") or {}
    if isinstance(data, dict) and isinstance(binary, dict):
        for key in sorted(set(data) & set(binary), key=str):
            yield f"key {key} is in both data and binaryData"


@coded("configmap-size")
def configmap_size(obj: dict, _):
    most = policy()["api"]["configmap_max_bytes"]
    if _data_size(obj) > most:
        yield f"data and binaryData hold {_data_size(obj):,} bytes, more than the API's {most:,}"
