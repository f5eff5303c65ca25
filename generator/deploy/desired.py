"""What main asks for: each project overlay rendered, only the kinds the deploy identity may apply, each
object labelled with its overlay. Rendered here with the pinned kustomize, or read from files rendered
elsewhere (a pull request's artifact: `--rendered DIR` holding <overlay>.yaml, read bounded)."""
import copy
import re
from dataclasses import dataclass
from pathlib import Path

from trainer import inputs

from . import pipeline
from .settings import settings

MAX_RENDERED_BYTES = 4 * 2**20  # one overlay's rendered YAML from an artifact
MAX_RENDERED_FILES = 200
OVERLAY_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")  # a project overlay's folder name


@dataclass
class Overlay:
    name: str
    objects: list[dict]   # labelled, in kustomize's order
    text: str             # as rendered, for validation


def _labelled(obj: dict, overlay: str) -> dict:
    obj = copy.deepcopy(obj)
    obj.setdefault("metadata", {}).setdefault("labels", {})[settings()["overlay_label"]] = overlay
    return obj


def _check(name: str, objects: list[dict], namespace: str) -> None:
    for obj in objects:
        kind, meta = obj.get("kind"), obj.get("metadata") or {}
        if kind not in settings()["kinds"]:
            raise pipeline.UsageError(f"overlays/{name} renders a {kind}, which the deploy identity may not apply",
                                      "add the kind to generator/deploy/gitops.yaml and rewrite the identity")
        if meta.get("namespace") != namespace:
            raise pipeline.UsageError(f"overlays/{name}: {kind}/{meta.get('name')} is in namespace {meta.get('namespace')!r}, "
                                      f"not {namespace!r}", "deploy one namespace per identity; fix the overlay's namespace")


def from_repository(root: Path, namespace: str, names: list[str] | None = None) -> tuple[list[Overlay], list[str]]:
    """(overlays of this namespace rendered, names of project overlays skipped as another namespace's)."""
    found = []
    for folder in pipeline.project_overlays(root):
        if names is not None and folder.name not in names:
            continue
        found.append((folder.name, pipeline.render_text(folder)))
    return _build(found, namespace)


def from_folder(folder: Path, namespace: str) -> tuple[list[Overlay], list[str]]:
    """Rendered files <overlay>.yaml in folder (an artifact), each read bounded."""
    found = []
    paths = sorted(Path(folder).glob("*.yaml"))
    if len(paths) > MAX_RENDERED_FILES:
        raise pipeline.UsageError(f"{folder} holds more than {MAX_RENDERED_FILES} rendered overlays", "render fewer overlays")
    for path in paths:
        if path.is_symlink() or not path.is_file():
            continue
        if not OVERLAY_NAME.fullmatch(path.stem):
            raise pipeline.UsageError(f"{path.name} is not named like an overlay", "name rendered files <overlay>.yaml")
        found.append((path.stem, inputs.read_text(path, path.name, MAX_RENDERED_BYTES, "render smaller overlays")))
    return _build(found, namespace)


def _build(found: list[tuple[str, str]], namespace: str) -> tuple[list[Overlay], list[str]]:
    overlays, skipped = [], []
    for name, text in found:
        objects = pipeline.load_documents(text, f"overlays/{name}")
        if namespace not in {(o.get("metadata") or {}).get("namespace") for o in objects}:
            skipped.append(name)  # another namespace's overlay
            continue
        _check(name, objects, namespace)  # an object of it elsewhere is refused: never half an overlay applied
        overlays.append(Overlay(name, [_labelled(o, name) for o in objects], text))
    return overlays, skipped
