"""Malformed manifests: kubeconform's schema error is the finding, the policy never crashes on them."""
import copy
import subprocess
import sys

import pytest

from validate.support import HERE, load_yaml, run_json, write_yaml

BASES = ["job", "pod", "deployment", "cronjob", "list"]
WRONG = {"mapping": {"x": 1}, "list": ["x"], "string": "x", "number": 7}
OBJECT_RULES = {"k8s-schema", "namespace-set", "waiver-reason"}  # what a rejected object may still show


def _paths(node, prefix=()):
    """Every key and index path below node."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        yield prefix + (key,)
        yield from _paths(value, prefix + (key,))


def _replaced(doc, path, value):
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def _mutants():
    for base in BASES:
        doc = load_yaml(HERE / "baselines" / f"{base}.yaml")
        for path in _paths(doc):
            if path[0] in ("apiVersion", "kind") or path[-1] in ("apiVersion", "kind"):
                continue
            original = copy.deepcopy(doc)
            for node in path[:-1]:
                original = original[node]
            for label, value in WRONG.items():
                if type(original[path[-1]]) is not type(value):
                    yield f"{base}-{'.'.join(map(str, path))}-{label}".replace("/", "_"), _replaced(doc, path, value)


MUTANTS = dict(_mutants())


def test_every_wrong_type_anywhere_gives_schema_findings_never_a_crash(tmp_path):
    """Each value of each baseline replaced by a mapping, list, string or number of the wrong type: one
    in-process run over all of them (an exception would fail the test); where kubeconform rejects the
    object, the policy rules stay silent on it."""
    assert len(MUTANTS) > 400
    paths = [write_yaml(tmp_path / f"{name}.yaml", doc) for name, doc in MUTANTS.items()]
    code, report, _ = run_json("validate", *paths)
    assert code == 1
    by_source: dict[str, set] = {}
    for finding in report["findings"]:
        by_source.setdefault(finding["source"].rsplit("/", 1)[-1].removesuffix(".yaml"), set()).add(finding["rule"])
    rejected = {name for name, found in by_source.items() if "k8s-schema" in found}
    assert len(rejected) > len(MUTANTS) / 2
    for name in rejected:
        assert by_source[name] <= OBJECT_RULES, (name, by_source[name])


@pytest.mark.parametrize("text", [
    "spec: {containers: {name: a, image: 'b:1'}}",
    "spec: {containers: [{name: a, image: 'b:1', resources: {requests: ['1', 2Gi]}}]}",
    "spec: {securityContext: restricted, containers: [{name: a, image: 'b:1'}]}",
], ids=["containers-mapping", "requests-list", "security-context-string"])
def test_cli_reports_malformed_types_exit_1_without_traceback(tmp_path, text):
    path = tmp_path / "pod.yaml"
    path.write_text(f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: gp-engine-demo}}\n{text}\n")
    proc = subprocess.run([sys.executable, "-c", "from generator.cli import main; main()", "validate", str(path)], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert [line.split(": ")[2] for line in proc.stdout.splitlines()] == ["k8s-schema"]
