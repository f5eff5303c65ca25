"""Render an overlay with the real kustomize (kubectl kustomize only as a stated fallback)."""
from pathlib import Path

import click

from generator.core.schemas import policy
from generator.core.tools import find_tool, run
from generator.render import cache
from generator.render.remote import refuse_remote
from generator.render.render_key import flush, key, Memo
from trainer import safe_yaml
from trainer.errors import UsageError

allow_remote_option = click.option(
    "--allow-remote", is_flag=True,
    help="Let kustomize fetch remote resources (git repositories, URLs); refused by default, since a pull request "
         "does not show what they hold.")


def kustomize_command() -> list[str]:
    kustomize = find_tool("kustomize", required=False)
    if kustomize:
        return [kustomize, "build"]
    kubectl = find_tool("kubectl", required=False)
    if kubectl:
        click.echo("warning: no kustomize binary (run `make tools`); rendering with `kubectl kustomize`", err=True)
        return [kubectl, "kustomize"]
    raise UsageError("neither kustomize nor kubectl is installed", "run `make tools`")


def render(overlay: Path, allow_remote: bool = False) -> str:
    """The overlay's manifests as kustomize prints them, offline unless allow_remote, within the time limit
    of policy.yaml; UsageError with kustomize's own reason."""
    return build(overlay, allow_remote, parse=False)[0]


def build(overlay: Path, allow_remote: bool = False, memo: Memo | None = None, label: str | None = None,
          parse: bool = True) -> tuple[str, list[dict] | None]:
    """render()'s text and its objects (load_documents, named label in errors; None for a hit without them
    when not parse). Taken from the render cache (cache.py) when it holds exactly these inputs, else rendered
    and stored there (with its objects, when they parse). memo: what the other overlays of the same command
    already read; sources.load passes one, and stores what it holds once every render succeeded."""
    overlay = Path(overlay)
    if not (overlay / "kustomization.yaml").is_file():
        raise UsageError(f"{overlay} has no kustomization.yaml", "pass an overlay folder such as overlays/horse2zebra")
    alone, memo = memo is None, memo if memo is not None else Memo()
    command = kustomize_command()
    where = cache.folder() if not allow_remote and cache.enabled() else None  # what a remote entry fetches is no input
    found = key(overlay, command, memo) if where is not None else None
    hit = cache.get(where, found) if found is not None else None  # stored after refuse_remote passed
    if hit is not None and isinstance(hit.get("text"), str) and isinstance(hit.get("docs"), (list, type(None))):
        docs = hit["docs"] if hit["docs"] is not None or not parse else load_documents(hit["text"], label or str(overlay))
        if alone:
            flush(memo)
        return hit["text"], docs
    refuse_remote(overlay, allow_remote)  # and FIFOs or devices among its files, which kustomize would block on
    proc = run([*command, str(overlay)], policy()["limits"]["render_seconds"], f"kustomize build {overlay}",
               offline=not allow_remote)
    if proc.returncode != 0:
        raise UsageError(f"kustomize could not render {overlay}: {shorten(proc.stderr)}", "fix the overlay and rerun")
    try:
        docs = load_documents(proc.stdout, label or str(overlay))
    except UsageError:  # no objects, or YAML past its bounds: the caller that reads them says so
        if parse:
            raise
        docs = None
    if found is not None and docs is not None:
        memo.pending.append((found, {"text": proc.stdout, "docs": docs if cache.exact(docs) else None}))
    if alone and flush(memo):
        cache.evict(cache.folder())
    return proc.stdout, docs


def shorten(message: str, limit: int = 300) -> str:
    """kustomize's error on one line: the last `Error:` line, without its stack of wrappers."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    text = (errors or lines or ["no output"])[-1].removeprefix("Error:").strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_documents(text: str, source: str = "<input>") -> list[dict]:
    """Every non-empty YAML document in text, as plain dicts; UsageError without any object or on a document
    that is not one, YAMLInputError (exit 2, see cli.py) on malformed or unbounded YAML."""
    objects = [doc for doc in safe_yaml.load_all(text, source) if doc is not None]  # YAMLInputError: exit 2 (cli.py)
    if not objects:
        raise UsageError(f"{source} holds no Kubernetes objects", "pass a file or overlay with at least one object")
    for doc in objects:
        if not isinstance(doc, dict) or "kind" not in doc:
            raise UsageError(f"{source}: a document is not a Kubernetes object", "each YAML document needs apiVersion and kind")
    return objects
