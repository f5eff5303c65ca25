"""Coded rules on what objects carry that the API server or NRP refuses and kubeconform does not check:
reserved namespaces, label syntax, selectors that miss their template, env names, pasted credentials."""
import re
from collections import Counter

from generator.core.schemas import policy
from generator.policy.registry import coded
from generator.policy.secrets import credentials
from generator.policy.workload import dig, POD_SPEC_PATHS, Workload

_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
SELECTED_KINDS = ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet", "ReplicationController", "Job")


@coded("namespace-default")
def namespace_default(obj: dict, _):
    namespace = dig(obj, "metadata", "namespace")
    if namespace in policy()["namespaces"]["reserved"]:
        yield f"namespace {namespace} is not one an NRP user can write to"


def _key_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and (len(prefix) > 253 or not _PREFIX.match(prefix)):
        return "its prefix is not a lowercase DNS name"
    if len(name) > 63 or not _NAME.match(name):
        return "its name is not 1-63 letters, digits, '-', '_' or '.' between letters or digits"
    return None


def _label_maps(node, path=""):
    """(where, mapping, values too?) for every labels, annotations, matchLabels and nodeSelector map."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else key
            if key in ("labels", "matchLabels", "nodeSelector", "annotations") and isinstance(value, dict):
                yield where, value, key != "annotations"
            elif isinstance(value, (dict, list)) and key not in ("data", "binaryData", "stringData"):
                yield from _label_maps(value, where)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _label_maps(value, f"{path}[{index}]")


def _selector_keys(node, path=""):
    """(where, key) for every key of a node selector requirement (matchExpressions) and of a toleration."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else key
            if key in ("matchExpressions", "tolerations") and isinstance(value, list):
                yield from ((f"{where}[{i}]", item["key"]) for i, item in enumerate(value)
                            if isinstance(item, dict) and isinstance(item.get("key"), str) and item["key"])
            elif isinstance(value, (dict, list)) and key not in ("data", "binaryData", "stringData"):
                yield from _selector_keys(value, where)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _selector_keys(value, f"{path}[{index}]")


def _annotations_size(obj: dict) -> int:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return sum(len(str(k).encode()) + len(str(v).encode()) for k, v in annotations.items()) if isinstance(annotations, dict) else 0


@coded("label-syntax")
def label_syntax(obj: dict, _):
    most = policy()["api"]["annotations_max_bytes"]
    if _annotations_size(obj) > most:
        yield f"metadata.annotations hold {_annotations_size(obj):,} bytes, more than the API's {most:,}"
    for where, key in _selector_keys(obj):
        problem = _key_problem(key)
        if problem:
            yield f"{where} key {key!r}: {problem}"
    for where, mapping, with_values in _label_maps(obj):
        for key, value in mapping.items():
            problem = _key_problem(str(key) if with_values else str(key).lower())  # annotation keys: any case
            if problem:
                yield f"{where} key {key!r}: {problem}"
            if with_values and isinstance(value, str) and (len(value) > 63 or not _VALUE.match(value)):
                yield f"{where}.{key} value {value!r} is not 0-63 letters, digits, '-', '_' or '.' between letters or digits"


def _selects(selector: dict, labels: dict) -> bool:
    """Does a LabelSelector (matchLabels, matchExpressions) or a plain map select these labels?"""
    match_labels = selector.get("matchLabels", {}) if "matchLabels" in selector or "matchExpressions" in selector else selector
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        if (operator == "In" and labels.get(key) not in values) or (operator == "NotIn" and labels.get(key) in values) \
                or (operator == "Exists" and key not in labels) or (operator == "DoesNotExist" and key in labels):
            return False
    return True


@coded("selector-match")
def selector_match(obj: dict, _):
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind not in SELECTED_KINDS or (kind == "Job" and not spec.get("manualSelector")):
        return
    selector = spec.get("selector")
    labels = dig(obj, *POD_SPEC_PATHS[kind][:-1], "metadata", "labels", default={}) or {}
    if not selector and kind == "ReplicationController":  # defaults to its template's labels
        return
    if not selector or not (kind == "ReplicationController" or selector.get("matchLabels") or selector.get("matchExpressions")):
        yield "spec.selector is missing or empty: it would select no pod or every pod of the namespace"
    elif not _selects(selector, labels):
        yield f"spec.selector does not select the pod template's labels ({labels or 'none'})"


@coded("env-duplicate")
def env_duplicate(container: dict, _):
    counts = Counter(e.get("name") for e in container.get("env") or [])
    for name in sorted(n for n, count in counts.items() if count > 1 and n):
        yield f"env {name} is set {counts[name]} times; only the last one counts"


@coded("secret-env")
def secret_env(container: dict, _):
    for variable in container.get("env") or []:
        for what in credentials(str(variable.get("name")), variable.get("value")):
            yield f"env {variable.get('name')} holds {what}"


@coded("secret-configmap")
def secret_configmap(obj: dict, _):
    for key, value in (obj.get("data") or {}).items():
        for what in credentials(str(key), value):
            yield f"data key {key} holds {what}"


@coded("sysctls")
def sysctls(w: Workload, _):
    safe = policy()["pod_security"]["safe_sysctls"]
    for sysctl in dig(w.pod, "securityContext", "sysctls", default=[]) or []:
        if sysctl.get("name") not in safe:
            yield f"sysctl {sysctl.get('name')} is not in Pod Security baseline's safe set"
