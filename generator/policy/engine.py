"""Run every rule of the table over every object, then apply waivers."""
import re
from functools import cache

import jsonschema

from generator.core.schemas import annotation, policy, Rule, rule_schemas, rules, train_config_schema
from generator.policy import references, sweeps
from generator.policy import rules_api, rules_config, rules_image, rules_placement, rules_resources, rules_storage  # noqa: F401 (they register coded rules)
from generator.policy.findings import Finding, Waiver
from generator.policy.registry import CODED
from generator.policy.sanitise import sanitised
from generator.policy.workload import dig, objects, workload
from trainer import safe_yaml
from trainer.errors import UsageError

TRAIN_CONFIG_KEY = "train.yaml"


def describe(text: str) -> str:
    """A table text with its {dotted.policy.keys} filled in from policy.yaml."""
    def value(match):
        node = policy()
        for key in match[1].split("."):
            node = node[key]
        return ", ".join(node) if isinstance(node, (list, dict)) else str(node)
    return re.sub(r"\{([a-z_]+(?:\.[a-z_]+)*)\}", value, text)


@cache
def _validator(rule_id: str):
    schema = rule_schemas()
    return jsonschema.Draft202012Validator({"$id": schema["$id"], "$ref": f"#/$defs/{rule_id}", "$defs": schema["$defs"]})


def _schema_details(rule: Rule, instance, at: str = "") -> list[str]:
    """The rule's most relevant schema error; `at` is where the instance sits in its object."""
    error = jsonschema.exceptions.best_match(_validator(rule.id).iter_errors(instance))
    if error is None:
        return []
    where = ".".join(p for p in (at, error.json_path.removeprefix("$").lstrip(".")) if p)
    text = error.message
    if len(text) > 80:  # anyOf and pattern errors quote whole subtrees: say what was wanted instead
        wanted = error.schema.get("description", "what the rule asks") if isinstance(error.schema, dict) else "what the rule asks"
        text = f"is not {wanted}"
    return [f"{where}: {text}" if where else text]


def _details(rule: Rule, target, owner, at: str = "") -> list[str]:
    if rule.check == "schema":
        return _schema_details(rule, target, at)
    if rule.id not in CODED:  # the repository's schemas/ are newer than the installed nautilus
        raise UsageError(f"schemas/rules.yaml has the rule {rule.id}, which this nautilus does not know",
                         "install nautilus from this repository: pip install -r requirements-cli.txt .")
    return list(CODED[rule.id](target, owner))


def _train_config(obj: dict) -> list[str]:
    if obj.get("kind") != "ConfigMap" or TRAIN_CONFIG_KEY not in (obj.get("data") or {}):
        return []
    try:
        config = safe_yaml.load(str(obj["data"][TRAIN_CONFIG_KEY]), TRAIN_CONFIG_KEY)
    except safe_yaml.YAMLInputError as exc:
        return [exc.what]
    validator = jsonschema.Draft202012Validator(train_config_schema())
    return [f"{TRAIN_CONFIG_KEY} {e.json_path.removeprefix('$').lstrip('.') or '(top)'}: {e.message}"
            for e in sorted(validator.iter_errors(config), key=lambda e: e.json_path)]


def _waiver_problems(obj: dict) -> list[str]:
    prefix = annotation("waiver_prefix")
    problems = []
    for key, reason in (dig(obj, "metadata", "annotations", default={}) or {}).items():
        if key.startswith(prefix):
            rule_id = key.removeprefix(prefix)
            if rule_id not in rules() or rule_id == "waiver-reason":
                problems.append(f"{key} names no rule that can be waived")
            elif not str(reason or "").strip():
                problems.append(f"{key} has no reason")
    return problems


def object_details(obj: dict, well_formed: bool = True) -> list[tuple[Rule, str]]:
    """(rule, detail) for every violation in one object, before waivers. An object the API schema does not
    vouch for (shape.sanitised) gets only the rules every object gets, which read its metadata."""
    table, kind = rules(), obj.get("kind", "")
    found = [(table["train-config"], d) for d in _train_config(obj)]
    found += [(table["waiver-reason"], d) for d in _waiver_problems(obj)]
    owned = workload(obj) if well_formed else None
    for rule in table.values():
        if rule.check not in ("schema", "code") or not rule.applies_to(kind):
            continue
        if not well_formed and (rule.target != "object" or rule.kinds):
            continue
        if rule.target == "object":
            found += [(rule, d) for d in _details(rule, obj, None)]
        elif owned and rule.target == "pod":
            found += [(rule, d) for d in _details(rule, owned.pod if rule.check == "schema" else owned, owned)]
        elif owned and rule.target == "job":
            at = "spec.jobTemplate.spec" if owned.kind == "CronJob" else "spec"
            found += [(rule, d) for d in _details(rule, owned.job_spec if rule.check == "schema" else owned, owned, at)]
        elif owned and rule.target == "container":
            for container in owned.containers():
                found += [(rule, f"container {container.get('name')}: {d}") for d in _details(rule, container, owned)]
    return found


def message(rule: Rule, detail: str) -> str:
    return f"{detail}; {describe(rule.fix)}"


def _name(obj: dict) -> str:
    name = dig(obj, "metadata", "name", default="")
    return name if isinstance(name, str) else ""


def _version(version: str | None) -> str:
    return version or str(policy()["kubernetes_version"])


def evaluate(sources, version: str | None = None) -> list[Finding]:
    """Every rule over every object (List items included), each as the API schema lets the rules read it."""
    findings = []
    for source in sources:
        for obj in objects(source.docs):
            obj, well_formed = sanitised(obj, _version(version))
            for rule, detail in object_details(obj, well_formed):
                findings.append(Finding(source.label, obj.get("kind", ""), _name(obj), rule.id, rule.severity,
                                        message(rule, detail), source.file))
        docs = list(objects(source.docs))
        across = sweeps.findings(docs) + references.findings(docs, source.file)  # across objects: a Job and its ConfigMap
        for obj, rule_id, detail in across:
            rule = rules()[rule_id]
            findings.append(Finding(source.label, obj["kind"], dig(obj, "metadata", "name", default="") or "", rule.id,
                                    rule.severity, message(rule, detail), source.file))
    return findings


def apply_waivers(findings: list[Finding], sources) -> tuple[list[Finding], list[Waiver]]:
    """Findings minus those waived by a reasoned annotation on their object; the waivers used."""
    prefix = annotation("waiver_prefix")
    notes = {}
    for source in sources:
        for obj in objects(source.docs):
            annotations = dig(obj, "metadata", "annotations", default={})
            notes[(source.label, obj.get("kind"), _name(obj))] = annotations if isinstance(annotations, dict) else {}
    kept, used = [], set()
    for finding in findings:
        reason = str(notes.get((finding.source, finding.kind, finding.name), {}).get(prefix + finding.rule) or "").strip()
        if reason and finding.rule != "waiver-reason":
            used.add(Waiver(finding.source, finding.kind, finding.name, finding.rule, reason))
        else:
            kept.append(finding)
    return kept, sorted(used)
