"""`nautilus` warns, in one line on stderr, when the kubectl on PATH is older than the overlays need."""
import json
import os
import subprocess
import sys
from pathlib import Path

from generator.core.kubectl_version import MINIMUM, client_version
from kube_support import REPO, examples_repo

NAUTILUS = Path(sys.executable).with_name("nautilus")
TOOLS_BIN = REPO / ".tools" / "bin"


def stand_in_kubectl(folder: Path, minor: str) -> Path:
    """A kubectl that answers `version --client -o json` the way kubectl 1.<minor> does (1.26 is not installed here)."""
    folder.mkdir()
    answer = {"clientVersion": {"major": "1", "minor": minor, "gitVersion": f"v1.{minor.rstrip('+')}.15"},
              "kustomizeVersion": "v4.5.7"}
    script = folder / "kubectl"
    script.write_text(f"#!/bin/sh\necho '{json.dumps(answer)}'\n")
    script.chmod(0o755)
    return folder


def run(command: list[str], path: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path}
    return subprocess.run([str(NAUTILUS), *command], cwd=examples_repo(), env=env, capture_output=True, text=True, timeout=60)


def test_the_pinned_kubectl_is_new_enough_and_silent():
    assert client_version(str(TOOLS_BIN / "kubectl")) >= MINIMUM
    result = run(["build", "overlays/horse2zebra"], f"{TOOLS_BIN}:/usr/bin:/bin")
    assert result.returncode == 0 and result.stderr == ""


def test_an_old_kubectl_gets_one_warning_line(tmp_path):
    path = f"{stand_in_kubectl(tmp_path / 'old', '26')}:{TOOLS_BIN}:/usr/bin:/bin"
    for command in (["build", "overlays/horse2zebra"], ["validate", "overlays/horse2zebra"],
                    ["new", "p", "--namespace", "ns", "--output-dir", str(tmp_path)]):
        result = run(command, path)
        assert result.returncode == 0, result.stderr
        warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: kubectl")]
        assert len(warnings) == 1 and "kubectl 1.26 " in warnings[0] and "1.27 or newer" in warnings[0]
    assert "warning" not in run(["report", "overlays/horse2zebra"], path).stderr  # only where kubectl comes next


def test_vendor_minor_versions_parse(tmp_path):  # some vendors' kubectl report minor "24+"
    assert client_version(str(stand_in_kubectl(tmp_path / "vendor", "24+") / "kubectl")) == (1, 24)


def test_no_kubectl_no_warning(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run(["build", "overlays/horse2zebra"], str(tmp_path / "empty"))  # kustomize comes from .tools/bin
    assert result.returncode == 0 and "warning" not in result.stderr
