"""A one-line warning when the kubectl on PATH is too old for these overlays.

kubectl 1.24-1.26 embed kustomize v4.5, which renders the overlays without an error but wrongly (pod
template labels dropped, so the multi-node Service selects nothing; the dev pod's claim unprefixed).
kubectl 1.27 embeds kustomize v5.0.1, which tests/test_kustomize_oldest.py shows renders every overlay
byte for byte like the pinned kustomize.
"""
import json
import re
import shutil
import subprocess

import click

MINIMUM = (1, 27)


def client_version(kubectl: str) -> tuple[int, int] | None:
    """(major, minor) of `kubectl version --client` (no cluster contacted), None when it cannot tell."""
    try:
        proc = subprocess.run([kubectl, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=5)
        client = json.loads(proc.stdout)["clientVersion"]
        return int(client["major"]), int(re.match(r"\d+", client["minor"])[0])  # minor may read "26+"
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError, TypeError):
        return None


def warn_if_old() -> None:
    kubectl = shutil.which("kubectl")  # the one `kubectl apply -k` runs, not the repository's pinned tools
    version = client_version(kubectl) if kubectl else None
    if version is not None and version < MINIMUM:
        need = ".".join(map(str, MINIMUM))
        click.echo(f"warning: kubectl {version[0]}.{version[1]} ({kubectl}) is older than {need}: its built-in kustomize "
                   f"renders these overlays wrongly without an error; install kubectl {need} or newer before "
                   "`kubectl apply -k` (docs/access.md)", err=True)
