"""The render cache (generator/render/cache.py, render_key.py): real kustomize, counted by a wrapper script.

A change to anything a render reads (a patch, a component's file, a generator's file, a base resource, the
kustomize binary) is a miss that renders again; an entry edited, truncated, cut off or copied from another
key is never trusted; two commands at once agree; the bound evicts the entries used longest ago; and every
example overlay renders alike with and without the cache.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kube_support import example_folders, examples_repo
from validate.support import copy_project, run

from generator.render import cache
from generator.render.kustomize import build, render

REPO = Path(__file__).resolve().parents[1]
KUSTOMIZE = shutil.which("kustomize") or str(REPO / ".tools/bin/kustomize")
OLDEST = REPO / ".tools/bin/kustomize-v5.0.1"

COMPONENT = """apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
  - path: gpus.yaml
"""
GPUS = """apiVersion: batch/v1
kind: Job
metadata:
  name: train
  annotations:
    team: vision
"""
OVERLAY_TAIL = """components:
  - ../../components/team
patches:
  - path: ttl.yaml
secretGenerator:
  - name: tokens
    envs:
      - tokens.env
"""
TTL = """apiVersion: batch/v1
kind: Job
metadata:
  name: train
spec:
  ttlSecondsAfterFinished: 3600
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """The clean project with a component (a patch file), an overlay patch and a secret generator's env file,
    the current directory; kustomize on PATH is a wrapper that logs each build to project/runs."""
    root = copy_project(tmp_path / "project")
    (root / "components/team").mkdir(parents=True)
    (root / "components/team/kustomization.yaml").write_text(COMPONENT)
    (root / "components/team/gpus.yaml").write_text(GPUS)
    overlay = root / "overlays/demo"
    (overlay / "kustomization.yaml").write_text((overlay / "kustomization.yaml").read_text() + OVERLAY_TAIL)
    (overlay / "ttl.yaml").write_text(TTL)
    (overlay / "tokens.env").write_text("RUN=one\n")
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "kustomize").write_text(f'#!/bin/sh\n[ "$1" = build ] && echo "$2" >> {root / "runs"}\nexec {KUSTOMIZE} "$@"\n')
    (tools / "kustomize").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv(cache.SWITCH, raising=False)
    monkeypatch.chdir(root)
    return root


def builds(root: Path) -> int:
    """kustomize builds since the last call."""
    log = root / "runs"
    count = len(log.read_text().split()) if log.exists() else 0
    log.unlink(missing_ok=True)
    return count


def entries(root: Path) -> list[Path]:
    folder = root / cache.FOLDER
    return sorted(folder.glob(f"render-*{cache.SUFFIX}")) if folder.is_dir() else []


def test_a_second_render_is_a_hit_with_the_same_output(project):
    first = render(project / "overlays/demo")
    assert builds(project) == 1 and len(entries(project)) == 1
    assert render(project / "overlays/demo") == first and builds(project) == 0
    assert "team: vision" in first and "ttlSecondsAfterFinished: 3600" in first and "name: demo-tokens-" in first


@pytest.mark.parametrize("path, old, new, shows", [
    ("overlays/demo/ttl.yaml", "3600", "7200", "ttlSecondsAfterFinished: 7200"),             # a patch
    ("components/team/gpus.yaml", "vision", "speech", "team: speech"),                      # a component's file
    ("components/team/kustomization.yaml", "gpus.yaml", "./gpus.yaml", "team: vision"),   # a component itself
    ("overlays/demo/train.yaml", "horse2zebra", "monet2photo", "name: monet2photo"),       # a generator's file
    ("overlays/demo/tokens.env", "one", "two", "RUN: dHdv"),                                # a generator's envs
    ("base/job.yaml", "backoffLimit: 2", "backoffLimit: 4", "backoffLimit: 4"),             # a base resource
    ("overlays/demo/kustomization.yaml", "newTag: v0.1.0", "newTag: v0.2.0", ":v0.2.0"),  # the kustomization
])
def test_a_change_to_any_input_renders_again(project, path, old, new, shows):
    before = render(project / "overlays/demo")
    assert builds(project) == 1
    file = project / path
    assert old in file.read_text()
    file.write_text(file.read_text().replace(old, new))
    after = render(project / "overlays/demo")
    assert builds(project) == 1 and len(entries(project)) == 2
    assert shows in after
    if shows != "team: vision":
        assert after != before
    file.write_text(file.read_text().replace(new, old))  # back as it was: the first entry answers again
    assert render(project / "overlays/demo") == before and builds(project) == 0


def test_another_kustomize_version_renders_again(project):
    """The pinned kustomize and the oldest supported one (make oldest-tools) are two keys."""
    if not OLDEST.is_file():
        pytest.skip("run `make oldest-tools`")
    tools = project / ".tools/bin"
    tools.mkdir(parents=True)
    (tools / "kustomize").symlink_to(KUSTOMIZE)
    render(project / "overlays/demo")
    assert len(entries(project)) == 1
    (tools / "kustomize").unlink()
    (tools / "kustomize").symlink_to(OLDEST)
    render(project / "overlays/demo")
    assert len(entries(project)) == 2
    shutil.copy(KUSTOMIZE, tools / "kustomize.new")  # the same bytes, installed afresh (as in CI): a hit
    os.replace(tools / "kustomize.new", tools / "kustomize")
    render(project / "overlays/demo")
    assert len(entries(project)) == 2


def _tamper(entry: Path, how: str, other: Path) -> None:
    data = entry.read_bytes()
    if how == "edited":  # a different image, the size kept
        entry.write_bytes(data.replace(b"v0.1.0", b"v6.6.6"))
    elif how == "edited, checksum of the body only":
        head, _, body = data.partition(b"\n")
        body = body.replace(b"v0.1.0", b"v6.6.6")
        header = {**json.loads(head), "sha256": __import__("hashlib").sha256(body).hexdigest()}
        entry.write_bytes(json.dumps(header).encode() + b"\n" + body)
    elif how == "truncated":
        entry.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        entry.write_bytes(b"")
    elif how == "foreign":  # another key's whole entry under this key's name
        entry.write_bytes(other.read_bytes())
    elif how == "not json":
        entry.write_bytes(b"apiVersion: v1\nkind: ConfigMap\n")


@pytest.mark.parametrize("how", ["edited", "edited, checksum of the body only", "truncated", "empty", "foreign",
                                 "not json"])
def test_a_damaged_or_foreign_entry_is_never_trusted(project, how):
    overlay = project / "overlays/demo"
    good = render(overlay)
    ttl = overlay / "ttl.yaml"
    ttl.write_text(TTL.replace("3600", "60"))
    render(overlay)  # a second entry, for "foreign"
    ttl.write_text(TTL)
    builds(project)
    first, second = sorted(entries(project), key=lambda p: p.stat().st_mtime_ns)
    _tamper(first, how, second)
    assert render(overlay) == good and builds(project) == 1  # rendered again, and stored whole again
    assert render(overlay) == good and builds(project) == 0


def test_inputs_outside_the_repository_and_remote_renders_are_not_stored(project, tmp_path):
    outside = tmp_path / "shared"
    outside.mkdir()
    (outside / "kustomization.yaml").write_text("configMapGenerator:\n  - name: shared\n    literals: [a=b]\n")
    kustomization = project / "overlays/demo/kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("  - ../../base\n", "  - ../../base\n  - ../../../shared\n"))
    assert "name: demo-shared-" in render(project / "overlays/demo")
    assert entries(project) == []  # what lies outside the repository is not known exactly: never stored
    render(project / "overlays/demo", allow_remote=True)
    assert entries(project) == [] and builds(project) == 2


def test_a_helm_chart_is_never_stored(project):
    kustomization = project / "overlays/demo/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "helmCharts:\n  - name: app\n    version: 1.0.0\n")
    code, _, err = run("validate", "overlays/demo")
    assert code == 2 and "HelmChartInflationGenerator" in err
    assert entries(project) == []


def test_the_switch_turns_the_cache_off_and_a_wrong_value_is_one_line(project, monkeypatch):
    monkeypatch.setenv(cache.SWITCH, "off")
    render(project / "overlays/demo")
    render(project / "overlays/demo")
    assert builds(project) == 2 and entries(project) == []
    proc = subprocess.run([sys.executable, "-c", "from generator.cli import main; main()", "build", "overlays/demo"],
                          capture_output=True, text=True, env={**os.environ, cache.SWITCH: "sometimes"})
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("error: NAUTILUS_RENDER_CACHE is 'sometimes'; ")


def test_the_bound_evicts_the_entries_used_longest_ago(project):
    overlay = project / "overlays/demo"
    for ttl in range(1, 6):
        (overlay / "ttl.yaml").write_text(TTL.replace("3600", str(ttl)))
        render(overlay)
    made = sorted(entries(project), key=lambda p: p.stat().st_mtime_ns)
    for age, entry in enumerate(made):  # spread the times: the first made is the oldest
        os.utime(entry, (1_000_000 + age, 1_000_000 + age))
    (overlay / "ttl.yaml").write_text(TTL.replace("3600", "1"))
    render(overlay)  # a hit on the oldest: now the newest
    assert builds(project) == 5
    size = made[0].stat().st_size
    cache.evict(project / cache.FOLDER, budget=2 * size + size // 2)
    assert entries(project) == sorted([made[0], made[-1]])
    stale = project / cache.FOLDER / ".x.render.abc.tmp"
    stale.write_text("half")
    os.utime(stale, (1_000_000, 1_000_000))
    cache.evict(project / cache.FOLDER, budget=10 * size)
    assert not stale.exists() and len(entries(project)) == 2


def test_two_commands_at_once_agree_and_leave_whole_entries(project):
    for index in range(1, 8):
        shutil.copytree(project / "overlays/demo", project / f"overlays/demo{index}")
    command = [sys.executable, "-c", "from generator.cli import main; main()", "validate", "--all", "--format", "json"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert outputs[0][0] == outputs[1][0]
    assert len(entries(project)) == 8 and all(cache.get(project / cache.FOLDER, e.name.removesuffix(cache.SUFFIX))
                                              for e in entries(project))
    assert not [p for p in (project / cache.FOLDER).iterdir() if p.name.endswith(".tmp")]
    builds(project)
    third = subprocess.run(command, capture_output=True, text=True, env=env)
    assert third.stdout == outputs[0][0] and builds(project) == 0


@pytest.mark.parametrize("overlay", example_folders(), ids=lambda p: p.name)
def test_every_example_renders_alike_with_and_without_the_cache(overlay, tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    for part in ("base", "overlays"):
        shutil.copytree(examples_repo() / part, repo / part)
    monkeypatch.chdir(repo)
    monkeypatch.setenv(cache.SWITCH, "off")
    plain = render(repo / "overlays" / overlay.name)
    monkeypatch.setenv(cache.SWITCH, "on")
    stored = build(repo / "overlays" / overlay.name)
    assert len(list((repo / cache.FOLDER).glob(f"render-*{cache.SUFFIX}"))) == 1
    hit = build(repo / "overlays" / overlay.name)
    assert stored[0] == plain == hit[0] and stored[1] == hit[1]
