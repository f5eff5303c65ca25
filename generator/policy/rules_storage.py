"""Coded rules on volumes: NRP storage classes and the access modes each supports."""
from generator.core.schemas import policy
from generator.policy.registry import coded


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
