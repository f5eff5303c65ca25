"""A container's environment as the kubelet fills it from the downward API: what `nautilus demo` hands the
pods' commands when it runs them here, and what the tests check the rendered pods expose."""
import math

from generator.core import quantity

LABEL = "metadata.labels['"


def environment(pod: dict, container: dict) -> dict[str, str]:
    """Plain values; a resourceFieldRef is ceil(the container's own request or limit / divisor); a fieldRef
    reads the pod's labels (pod: an object with the pod's metadata)."""
    labels = pod["metadata"].get("labels", {})
    env = {}
    for var in container.get("env", []):
        ref = var.get("valueFrom", {})
        if "resourceFieldRef" in ref:
            side, resource = ref["resourceFieldRef"]["resource"].split(".")
            value = quantity.parse(container["resources"][side][resource])
            env[var["name"]] = str(math.ceil(value / quantity.parse(ref["resourceFieldRef"].get("divisor", "1"))))
        elif "fieldRef" in ref and ref["fieldRef"]["fieldPath"].startswith(LABEL):
            env[var["name"]] = labels.get(ref["fieldRef"]["fieldPath"][len(LABEL):-2], "")
        elif "value" in var:
            env[var["name"]] = var["value"]
    return env
