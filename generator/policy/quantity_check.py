"""The `quantity` step: every resource amount of every object (containers' and pods' requests and limits,
claims and claim templates, emptyDir sizeLimit) is a Kubernetes quantity within policy.yaml's sane range.
It reads the objects as written, before the rules' sanitising drops what does not parse."""
from generator.core import quantity
from generator.core.schemas import policy, rules
from generator.policy.engine import message
from generator.policy.findings import Finding
from generator.policy.workload import dig, objects

RULE = "quantity"


def _amounts(node, path: str = ""):
    """(where, resource, value) of every amount below node: resources.{requests,limits}.<resource> and
    emptyDir.sizeLimit (memory-backed: memory, else ephemeral-storage). Depth is bounded by the YAML loader."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _amounts(item, f"{path}[{index}]")
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        where = f"{path}.{key}" if path else str(key)
        if key == "resources" and isinstance(value, dict):
            for side in ("requests", "limits"):
                for resource, amount in (value.get(side) or {}).items() if isinstance(value.get(side), dict) else ():
                    yield f"{where}.{side}.{resource}", str(resource), amount
        elif key == "emptyDir" and isinstance(value, dict) and "sizeLimit" in value:
            resource = "memory" if value.get("medium") == "Memory" else "ephemeral-storage"
            yield f"{where}.sizeLimit", resource, value["sizeLimit"]
        yield from _amounts(value, where)


def check(sources) -> list[Finding]:
    rule, ranges = rules()[RULE], policy()["quantities"]
    findings = []
    for source in sources:
        for obj in objects(source.docs):
            for where, resource, value in _amounts(obj):
                if isinstance(value, (dict, list)):  # not even a scalar: kubeconform's schema finding says it
                    continue
                wrong = quantity.problem(resource, value, ranges)
                if wrong:
                    findings.append(Finding(source.label, str(obj.get("kind", "")), str(dig(obj, "metadata", "name", default="") or ""),
                                            rule.id, rule.severity, message(rule, f"{where}: {wrong}"), source.file))
    return findings
