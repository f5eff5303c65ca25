"""The checks kept in the render cache (generator/policy/check_cache.py): the same findings with and without
it, a new check when the rules, the published image or the source change, and a hand-edited entry never
trusted."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from validate.support import copy_project, run

from generator.core import published_image, repo
from generator.policy import check_cache
from generator.policy.findings import Finding
from generator.policy.sleep import TOO_SLOW
from generator.render import cache


@pytest.fixture
def project(tmp_path, monkeypatch):
    """Two overlays, one with a warning (job-ttl: no ttlSecondsAfterFinished), as the current directory."""
    root = copy_project(tmp_path / "project")
    (root / "overlays/other").mkdir()
    for name in ("kustomization.yaml", "train.yaml"):
        text = (root / "overlays/demo" / name).read_text()
        (root / "overlays/other" / name).write_text(text.replace("demo", "other"))
    (root / "overlays/other/kustomization.yaml").write_text((root / "overlays/other/kustomization.yaml").read_text() + (
        "patches:\n  - target: {kind: Job}\n    patch: |-\n      - op: remove\n        path: /spec/ttlSecondsAfterFinished\n"))
    monkeypatch.delenv(cache.SWITCH, raising=False)
    monkeypatch.delenv(published_image.VARIABLE, raising=False)
    monkeypatch.chdir(root)
    return root


def checks(root) -> list:
    return sorted((root / cache.FOLDER).glob(f"check-*{cache.SUFFIX}"))


def validate() -> tuple[int, dict]:
    code, out, _ = run("validate", "--all", "--format", "json")
    return code, json.loads(out)


def test_findings_are_the_same_with_and_without_the_cache(project, monkeypatch):
    monkeypatch.setenv(cache.SWITCH, "off")
    plain = validate()
    assert checks(project) == [] and any(f["rule"] == "job-ttl" for f in plain[1]["findings"])
    monkeypatch.setenv(cache.SWITCH, "on")
    assert validate() == plain and len(checks(project)) == 2
    stored = {p: p.stat().st_mtime_ns for p in checks(project)}
    assert validate() == plain and set(checks(project)) == set(stored)


def validate_process(env: dict | None = None) -> tuple[int, dict]:
    """validate in a process of its own: the rules are read once per process."""
    proc = subprocess.run([sys.executable, "-c", "from generator.cli import main; main()", "validate", "--all", "--format",
                           "json"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), **(env or {})})
    return proc.returncode, json.loads(proc.stdout)


def test_a_change_to_the_rules_or_the_published_image_checks_again(project):
    (project / "schemas").mkdir()
    for name in ("rules.yaml", "policy.yaml", "policy-rules.schema.json", "train-config.schema.json",
                 "sweep.schema.json", "sizing.yaml"):
        (project / "schemas" / name).write_bytes((repo.PACKAGED_SCHEMAS / name).read_bytes())
    first = validate_process()
    assert first[0] == 0 and len(checks(project)) == 2
    rules = project / "schemas/rules.yaml"
    table = rules.read_text()
    start = table.index("- id: job-ttl")
    rules.write_text(table[:start] + table[start:].replace("severity: warning", "severity: error", 1))
    code, result = validate_process()
    assert code == 1 and [f["severity"] for f in result["findings"] if f["rule"] == "job-ttl"] == ["error"]
    assert len(checks(project)) == 4
    validate_process({published_image.VARIABLE: "registry.example/lab/trainer"})
    assert len(checks(project)) == 6


def test_a_hand_edited_check_is_never_trusted(project):
    _, first = validate()
    for entry in checks(project):
        entry.write_bytes(entry.read_bytes().replace(b'"severity": "warning"', b'"severity": "error"'))
        entry.write_bytes(entry.read_bytes().replace(b'"job-ttl"', b'"job-tll"'))
    assert validate() == (0, first)


def test_a_verdict_of_the_machines_load_is_not_stored(project):
    slow = Finding("overlays/demo", "Job", "demo-train", "shell-script", "warning", f"the script {TOO_SLOW} 1 s to parse")
    where = project / cache.FOLDER
    check_cache.put(where, "check-slow", [slow], [])
    check_cache.put(where, "check-fine", [], [])
    assert not (where / f"check-slow{cache.SUFFIX}").exists() and check_cache.get(where, "check-fine") == ([], [])


def test_the_report_is_the_same_with_and_without_the_cache(tmp_path, monkeypatch):
    """Renders, checks and rows all kept: the report against a base, cold, warm and without the cache."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.report import change_last_overlay, lab
    change_last_overlay(tmp_path, lab(tmp_path, 4))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(cache.SWITCH, "off")
    plain = run("report", "--all", "--base", "HEAD", "--format", "json")
    assert plain[0] == 0 and not (tmp_path / cache.FOLDER).exists()
    monkeypatch.setenv(cache.SWITCH, "on")
    assert run("report", "--all", "--base", "HEAD", "--format", "json") == plain
    rows = sorted((tmp_path / cache.FOLDER).glob(f"rows-*{cache.SUFFIX}"))
    assert len(rows) == 5  # four overlays now, the changed one at the base
    assert run("report", "--all", "--base", "HEAD", "--format", "json") == plain
    assert sorted((tmp_path / cache.FOLDER).glob(f"rows-*{cache.SUFFIX}")) == rows
    assert json.loads(plain[1])["summary"]["overlays"]["changed"] == 1
