"""Kubernetes API schema checks: one offline `kubeconform -strict` process over every source.

The schemas come from the kubernetes-validate package (`v<version>-local-strict/`, kubeconform's file
naming). Their `$ref`s point at https://kubernetes.io/api/_definitions.json, which kubeconform would
fetch over the network, so each kind needed is written, self-contained (its definitions inlined), into
a temporary folder that `-schema-location` points at.
"""
import json
import re
import tempfile
from functools import cache
from importlib.resources import files
from pathlib import Path

from .errors import UsageError
from .findings import Finding
from .policy.engine import message
from .policy.table import policy, rules
from .policy.workload import objects
from .tools import find_tool, run

SCHEMA_ROOT = Path(str(files("kubernetes_validate") / "kubernetes-json-schema"))
_DEFINITIONS_REF = re.compile(r"^(?:https://kubernetes\.io)?/api/_definitions\.json#")
_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.\d+)?")


def schema_dir(version: str) -> Path:
    """The newest strict schema folder not newer than version (what kubernetes-validate itself picks)."""
    match = _VERSION.fullmatch(version)
    if not match:
        raise UsageError(f"--kubernetes-version {version!r} is not a version", "write it as 1.33.0")
    wanted = (int(match[1]), int(match[2]))
    shipped = sorted((tuple(map(int, _VERSION.fullmatch(p.name.removesuffix("-local-strict")).groups())), p)
                     for p in SCHEMA_ROOT.glob("v*-local-strict"))
    usable = [path for minor, path in shipped if minor <= wanted]
    if not usable:
        raise UsageError(f"no API schemas for Kubernetes {version}",
                         f"use {shipped[0][1].name.split('-')[0][1:]} or newer")
    return usable[-1]


def schema_file_name(api_version: str, kind: str) -> str:
    """kubeconform's `{{ .ResourceKind }}{{ .KindSuffix }}.json`: job-batch-v1.json, configmap-v1.json."""
    group, _, version = api_version.rpartition("/")
    suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix}.json".lower()


@cache
def _definitions(folder: Path) -> dict:
    return json.loads((folder / "_definitions.json").read_text())["$defs"]


def _self_contained(schema: dict, definitions: dict) -> dict:
    """schema with every definition it reaches inlined under $defs and its refs made local."""
    needed: dict = {}

    def walk(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and _DEFINITIONS_REF.match(ref):
                node["$ref"] = _DEFINITIONS_REF.sub("#", ref)
            if isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/$defs/"):
                name = node["$ref"].removeprefix("#/$defs/")
                if name not in needed:
                    needed[name] = json.loads(json.dumps(definitions[name]))
                    walk(needed[name])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    schema = {k: v for k, v in schema.items() if k != "$id"}
    walk(schema)
    schema["$defs"] = needed
    return schema


def write_schemas(kinds: set[tuple[str, str]], folder: Path, target: Path) -> None:
    for api_version, kind in kinds:
        name = schema_file_name(api_version, kind)
        source = folder / name
        if source.is_file():  # absent: kubeconform reports the missing schema itself
            schema = _self_contained(json.loads(source.read_text()), _definitions(folder))
            (target / name).write_text(json.dumps(schema))


def _details(message: str) -> str:
    """The leaf errors of kubeconform's message (`- at '/spec/x': ...`), without the 'validation failed' wrappers."""
    found = re.findall(r"- at '([^']*)': (.*?)(?=\s+- at '|$)", message, flags=re.S)
    return "; ".join(f"{path or '/'}: {text.strip()}" for path, text in found if text.strip() != "validation failed")


def check(sources, version: str, ignore_missing: bool = False) -> list[Finding]:
    """kubeconform's verdict on every object of every source, as findings against those objects."""
    kubeconform = find_tool("kubeconform")
    folder = schema_dir(version)
    with tempfile.TemporaryDirectory(prefix="nautilus-kubeconform-") as tmp:
        tmp = Path(tmp)
        (tmp / "schemas").mkdir()
        kinds = {(str(d.get("apiVersion", "")), d["kind"]) for s in sources for d in objects(s.docs)
                 if isinstance(d.get("kind"), str)}
        write_schemas(kinds, folder, tmp / "schemas")
        by_file = {}
        for index, source in enumerate(sources):
            path = tmp / f"{index}.yaml"
            path.write_text(source.text)
            by_file[str(path)] = source
        command = [kubeconform, "-strict", "-summary", "-output", "json", "-kubernetes-version",
                   folder.name.removeprefix("v").removesuffix("-local-strict"),
                   "-schema-location", str(tmp / "schemas") + "/{{ .ResourceKind }}{{ .KindSuffix }}.json"]
        if ignore_missing:
            command.append("-ignore-missing-schemas")
        proc = run([*command, *by_file], policy()["limits"]["render_seconds"], "kubeconform")
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        said = (proc.stderr or proc.stdout or "no output").strip().splitlines()[0][:300]
        raise UsageError(f"kubeconform failed: {said}", "run `make tools` to reinstall the pinned version") from exc
    findings = []
    for resource in report.get("resources", []):
        status = resource.get("status")
        if status not in ("statusInvalid", "statusError"):
            continue
        source = by_file[resource["filename"]]
        missing = resource.get("msg", "").startswith("could not find schema")
        rule = rules()["k8s-schema-missing" if missing else "k8s-schema"]
        detail = (f"no API schema for {resource.get('version')} {resource.get('kind')} at Kubernetes {version}" if missing
                  else _details(resource.get("msg", "")) or resource.get("msg", "invalid"))
        findings.append(Finding(source.label, resource.get("kind", ""), resource.get("name", ""), rule.id,
                                rule.severity, message(rule, detail), source.file))
    return findings
