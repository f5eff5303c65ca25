"""The Kubernetes API schemas, offline: the kubernetes-validate package's `v<version>-local-strict/` folders
(kubeconform's file naming). Their `$ref`s point at https://kubernetes.io/api/_definitions.json, which a
validator would fetch over the network, so each schema is made self-contained (its definitions inlined)."""
import json
import re
from functools import cache
from importlib.resources import files
from pathlib import Path

from trainer.errors import UsageError

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
def definitions(folder: Path) -> dict:
    return json.loads((folder / "_definitions.json").read_text())["$defs"]


def self_contained(schema: dict, definitions: dict) -> dict:
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
            schema = self_contained(json.loads(source.read_text()), definitions(folder))
            (target / name).write_text(json.dumps(schema))
