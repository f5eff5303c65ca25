"""Render an overlay with the real kustomize (kubectl kustomize only as a stated fallback)."""
import subprocess
from pathlib import Path

import click
from trainer import safe_yaml

from .errors import UsageError
from .tools import find_tool


def kustomize_command() -> list[str]:
    kustomize = find_tool("kustomize", required=False)
    if kustomize:
        return [kustomize, "build"]
    kubectl = find_tool("kubectl", required=False)
    if kubectl:
        click.echo("warning: no kustomize binary (run `make tools`); rendering with `kubectl kustomize`", err=True)
        return [kubectl, "kustomize"]
    raise UsageError("neither kustomize nor kubectl is installed", "run `make tools`")


def render(overlay: Path) -> str:
    """The overlay's manifests as kustomize prints them; UsageError with kustomize's own reason."""
    overlay = Path(overlay)
    if not (overlay / "kustomization.yaml").is_file():
        raise UsageError(f"{overlay} has no kustomization.yaml", "pass an overlay folder such as overlays/horse2zebra")
    proc = subprocess.run([*kustomize_command(), str(overlay)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise UsageError(f"kustomize could not render {overlay}: {shorten(proc.stderr)}", "fix the overlay and rerun")
    return proc.stdout


def shorten(message: str, limit: int = 300) -> str:
    """kustomize's error on one line: the last `Error:` line, without its stack of wrappers."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    text = (errors or lines or ["no output"])[-1].removeprefix("Error:").strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_documents(text: str, source: str = "<input>") -> list[dict]:
    """Every non-empty YAML document in text, as plain dicts; UsageError on malformed or unbounded YAML."""
    try:
        docs = safe_yaml.load_all(text, source)
    except safe_yaml.YAMLInputError as exc:
        raise UsageError(exc.what, exc.fix) from None
    objects = [doc for doc in docs if doc is not None]
    for doc in objects:
        if not isinstance(doc, dict) or "kind" not in doc:
            raise UsageError(f"{source}: a document is not a Kubernetes object", "each YAML document needs apiVersion and kind")
    return objects
