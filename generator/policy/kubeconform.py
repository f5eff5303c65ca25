"""Kubernetes API schema checks: one offline `kubeconform -strict` process over every source.

Each kind needed is written self-contained (api_schemas.py) into a temporary folder that
`-schema-location` points at, so kubeconform never fetches a schema.
"""
import json
import re
import tempfile
from pathlib import Path

from generator.core.schemas import policy, rules
from generator.core.tools import find_tool, run
from generator.policy.api_schemas import schema_dir, write_schemas
from generator.policy.engine import message
from generator.policy.findings import Finding
from generator.policy.workload import objects
from trainer.errors import UsageError


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
