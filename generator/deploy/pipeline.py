"""Everything deploy/ uses from the rest of generator/, in one place: render and validate overlays, find
the repository and its tools, run a tool bounded, write a file atomically, and the one-line usage error."""
from pathlib import Path

from generator.core import repo
from generator.core.schemas import policy
from generator.core.tools import find_tool, run
from generator.policy.check import check
from generator.render import sources
from generator.render.changes import changed_overlays as overlays_changed_since
from generator.render.kustomize import load_documents, render
from generator.review.markdown import cell
from trainer.atomic import write_text
from trainer.errors import UsageError

__all__ = ["UsageError", "cell", "find_tool", "run", "write_text", "repo_root", "project_overlays", "render_text", "errors_of",
           "load_documents", "overlays_changed_since"]


def repo_root() -> Path:
    return repo.root()


def project_overlays(root: Path) -> list[Path]:
    """The overlays a deploy applies: the projects. `<project>.dev` and `<project>.results` start pods that
    a person asks for by hand, so the workflow never applies them."""
    return [p for p in sources.all_overlays(root / "overlays") if "." not in p.name]


def render_text(overlay: Path) -> str:
    """The overlay as kustomize renders it (pinned kustomize, offline, bounded in time and size)."""
    return render(overlay)


def errors_of(label: str, text: str) -> list[str]:
    """The validator's error findings on rendered YAML, one line each (what `nautilus validate` fails on)."""
    loaded = [sources.Source(label, label, text, load_documents(text, label))]
    result = check(loaded, str(policy()["kubernetes_version"]))
    return [f"{f.source}: {f.kind}/{f.name}: {f.rule}: {f.message}" for f in result.errors]
