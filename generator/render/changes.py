"""What changed since a git ref, and which overlays it reaches: the one answer that `nautilus report --base`
gives its reviewers and that the GitOps workflows (apply on merge, the live diff, the drift check) act on.

    changes = since("origin/main")          # the paths that differ between the ref and the working tree
    changes.affects(Path("overlays/x"))     # did any input of overlays/x change (True when unknown)?
    changes.removed()                       # overlays at the ref whose kustomization.yaml is gone
    changed_overlays("origin/main")         # every overlay under overlays/ that the change reaches

An overlay's inputs are overlay_files.inputs: its folder, its kustomizations followed recursively and every
file they name. When they cannot be known (a path outside the repository, a kustomization that does not
parse) the overlay counts as changed: naming too much costs a render, naming too little would skip one.
"""
from dataclasses import dataclass, field
from pathlib import Path

from generator.core import gitref
from generator.core import repo
from generator.render.overlay_files import inputs, touches
from trainer.errors import UsageError


@dataclass
class Changes:
    ref: str
    top: Path                   # the git top level, resolved
    paths: set[Path]            # relative to top: changed, added, deleted, untracked or ignored since ref
    named: dict = field(default_factory=dict)  # overlay_files' memo: each folder's named paths, read once

    def affects(self, item: Path, also: set[Path] = frozenset()) -> bool:
        """Whether a change reaches item (an overlay folder or a YAML file), or one of also (paths relative to
        top that every item depends on, such as schemas/); UsageError when item lies outside the repository."""
        path = Path(item).resolve()
        if not path.is_relative_to(self.top):
            raise UsageError(f"{item} is outside the git repository {self.top}", "run inside that repository")
        used = inputs(path, self.top, self.named)
        return used is None or touches(used | set(also), self.paths)

    def removed(self) -> list[Path]:
        """Overlays (relative to top) that exist at ref and no longer here: their kustomization.yaml was deleted."""
        overlays = repo.overlays().resolve()
        if not overlays.is_relative_to(self.top):
            return []
        folder = overlays.relative_to(self.top)
        return sorted(p.parent for p in self.paths if p.parent.parent == folder and p.name == "kustomization.yaml"
                      and not (self.top / p).exists())


def since(ref: str, start: Path | None = None, named: dict | None = None) -> Changes:
    """The paths that differ between ref and the working tree of the repository holding start (default: the
    current directory); UsageError when ref names no commit. named: the kustomizations the command already
    read (render_key.Memo.named), so none is read twice."""
    top = gitref.toplevel(start).resolve()
    return Changes(ref, top, gitref.changed(ref, top), {} if named is None else named)


def changed_overlays(ref: str, start: Path | None = None) -> list[Path]:
    """Every overlay folder under overlays/ that the change since ref reaches, then those it removed (as paths
    relative to the git top level, sorted): what a GitOps workflow applies, diffs or deletes."""
    changes = since(ref, start)
    here = [p.resolve().relative_to(changes.top) for p in sorted(repo.overlays(start).glob("*"))
            if (p / "kustomization.yaml").is_file() and changes.affects(p)]
    return here + changes.removed()
