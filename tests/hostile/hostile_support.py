"""Shared by tests/hostile: run the real `nautilus` as a user does (a child process, real stdin bytes), check
that a refusal is one `error:` line with the right exit code and no traceback, and that files are untouched."""
import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "tests/validate/project"   # base/ + overlays/demo, clean
ENV = {**os.environ, "PATH": f"{REPO / '.tools/bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
ENV.pop("NAUTILUS_DEBUG", None)
NAUTILUS = [str(Path(sys.executable).with_name("nautilus"))]   # the installed entry point a user runs


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float


def nautilus(*args, stdin: bytes = b"", cwd: Path = REPO, timeout: float = 60) -> Run:
    start = time.perf_counter()
    proc = subprocess.run([*NAUTILUS, *map(str, args)],
                          input=stdin, capture_output=True, cwd=cwd, env=ENV, timeout=timeout)
    return Run(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"),
               time.perf_counter() - start)


def refused(run: Run, *expected: str, code: int = 2, within: float = 20) -> str:
    """run ended with exit code `code` and exactly one stderr line `error: <what>; <fix>` holding every expected text."""
    assert "Traceback" not in run.err + run.out, run.err
    assert run.code == code, (run.code, run.err)
    lines = run.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "; " in lines[0], run.err
    for text in expected:
        assert text in lines[0], lines[0]
    assert run.seconds < within, f"took {run.seconds:.1f} s"
    return lines[0]


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under folder (hidden ones too) with a hash of each file's content."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def project(folder: Path, render_seconds: int | None = None) -> Path:
    """A repository made from the template (base/, overlays/demo, schemas/) in folder; render_seconds
    overrides policy.yaml's time limit for kustomize."""
    shutil.copytree(PROJECT, folder, dirs_exist_ok=True)
    shutil.copytree(REPO / "schemas", folder / "schemas")
    if render_seconds is not None:
        policy = folder / "schemas/policy.yaml"
        text = policy.read_text()
        assert "render_seconds: 60" in text
        policy.write_text(text.replace("render_seconds: 60", f"render_seconds: {render_seconds}"))
    return folder


POD = """apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: ns
spec:
  activeDeadlineSeconds: 3600
  securityContext: {{runAsNonRoot: true, runAsUser: 1000, seccompProfile: {{type: RuntimeDefault}}}}
  containers:
  - name: c
    image: {image}
    command: {command}
    securityContext: {{allowPrivilegeEscalation: false, capabilities: {{drop: [ALL]}}}}
    resources:
      requests: {{cpu: "{cpu}", memory: {memory}}}
      limits: {{cpu: "{cpu}", memory: {memory}}}
"""


def pod(image: str = "ghcr.io/lab/trainer:v1", command: str = "[python, train.py]", cpu: str = "1",
        memory: str = "2Gi") -> str:
    """A bare Pod that passes every rule; each argument replaces one part of it."""
    return POD.format(image=image, command=command, cpu=cpu, memory=memory)
