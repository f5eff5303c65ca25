"""What the policy rules read: an object with null treated as absent, and nothing of an object whose
types the Kubernetes API schema rejects. kubeconform reports those (k8s-schema); the rules never see
them, so a mapping where a list belongs, or a string where a securityContext belongs, cannot crash a rule.
"""
import json
from functools import cache

import jsonschema

from generator.core import quantity
from generator.policy.api_schemas import definitions, schema_dir, schema_file_name, self_contained
from generator.policy.workload import dig, POD_SPEC_PATHS

# Errors that say a value has the wrong type (not a missing or unknown field, which the rules handle).
TYPE_ERRORS = {"type", "oneOf", "anyOf"}


def _key(key) -> str:
    """A mapping key as the API server reads it (YAML `2:` or `true:` become "2", "true")."""
    return str(key).lower() if isinstance(key, bool) else str(key)


def without_nulls(node):
    """node with every null left out and every mapping key a string."""
    if isinstance(node, dict):
        return {_key(k): without_nulls(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [without_nulls(v) for v in node if v is not None]
    return node


@cache
def _validator(api_version: str, kind: str, version: str):
    folder = schema_dir(version)
    path = folder / schema_file_name(api_version, kind)
    if not path.is_file():
        return None
    return jsonschema.Draft202012Validator(self_contained(json.loads(path.read_text()), definitions(folder)))


def _drop_bad_quantities(obj: dict) -> None:
    """Resource amounts the API server cannot parse (`cpu: lots`); the schema allows any string."""
    path = POD_SPEC_PATHS.get(obj.get("kind"))
    pod = dig(obj, *path) if path else None
    if not isinstance(pod, dict):
        return
    for container in (pod.get("containers") or []) + (pod.get("initContainers") or []):
        for side in ("requests", "limits"):
            amounts = dig(container, "resources", side, default={})
            for name in [n for n, value in amounts.items() if not quantity.is_quantity(value)]:
                del amounts[name]


def sanitised(obj: dict, version: str) -> tuple[dict, bool]:
    """obj as the rules may read it. When no API schema vouches for its types (a value of the wrong type,
    or no schema at all) only apiVersion, kind and the well-typed metadata remain: kubeconform's finding
    is the one to fix first, and the pod rules run once the object is well-formed. The flag: well-formed."""
    clean = without_nulls(obj)
    validator = _validator(str(clean.get("apiVersion") or ""), str(clean.get("kind") or ""), version)
    wrong = None if validator is None else [list(e.absolute_path) for e in validator.iter_errors(clean)
                                            if e.validator in TYPE_ERRORS]
    if wrong is None or wrong:
        metadata = clean.get("metadata") if isinstance(clean.get("metadata"), dict) else {}
        metadata = {k: v for k, v in metadata.items() if ["metadata", k] not in (p[:2] for p in wrong or [])}
        return {"apiVersion": clean.get("apiVersion"), "kind": clean.get("kind"), "metadata": metadata}, False
    _drop_bad_quantities(clean)
    return clean, True
