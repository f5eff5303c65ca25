"""The before side of `nautilus report --base REF`: each overlay as it was at REF, rendered and checked.

Only what can differ is rendered again: an overlay none of whose inputs (its folder, the kustomizations and
files it names, followed recursively, and the schemas/ it is checked against) changed since REF is the same
at both refs, so its current render, rows and findings stand for both. Both sides are checked against
the current schemas/: the rules that will apply once the change is merged.
"""
from dataclasses import dataclass
from pathlib import Path

from generator.core import gitref
from generator.core import repo as repository
from generator.policy.check import check
from generator.policy.findings import Finding, Result, Waiver
from generator.render import sources
from generator.render.overlay_files import inputs, touches
from generator.review.inventory import Row, rows
from trainer.errors import UsageError


@dataclass
class Side:
    """One overlay (or file) at one ref."""
    text: str
    rows: list[Row]
    findings: list[Finding]
    waivers: list[Waiver]


def sides(loaded: list[sources.Source], result: Result) -> dict[str, Side]:
    return {s.label: Side(s.text, rows(s), [f for f in result.findings if f.source == s.label],
                          [w for w in result.waivers if w.source == s.label]) for s in loaded}


def _removed_overlays(changed: set[Path], top: Path, known: set[str]) -> list[tuple[Path, str]]:
    """Overlays that exist at the ref and no longer here: their kustomization.yaml was deleted."""
    overlays = repository.overlays()
    if not overlays.resolve().is_relative_to(top):
        return []
    folder = overlays.resolve().relative_to(top)
    gone = sorted(p.parent for p in changed if p.parent.parent == folder and p.name == "kustomization.yaml"
                  and not (top / p).exists())
    return [(p, label) for p in gone if (label := sources.label_for(overlays / p.name)) not in known]


def before(ref: str, items: list, current: dict[str, Side], version: str, use_all: bool,
           allow_remote: bool = False) -> dict[str, Side]:
    """{label: Side at ref} for the inputs (in the order of current) and, with --all, the overlays removed
    since ref; an input that did not exist at ref has no entry."""
    top = gitref.toplevel().resolve()
    changed = gitref.changed(ref, top)
    schemas = repository.schemas().resolve()
    policy = {schemas.relative_to(top)} if schemas.is_relative_to(top) else set()
    kept, again, named = {}, [], {}
    for item, label in zip(items, current):
        if item == "-":
            raise UsageError("--base cannot compare stdin", "pass overlay folders or YAML files")
        path = Path(item).resolve()
        if not path.is_relative_to(top):
            raise UsageError(f"{item} is outside the git repository {top}", "run inside that repository")
        used = inputs(path, top, named)
        if used is not None and not touches(used | policy, changed):
            kept[label] = current[label]
        else:
            again.append((path.relative_to(top), label))
    if use_all:
        again += _removed_overlays(changed, top, set(current))
    if not again:
        return kept
    with gitref.checkout(ref, top) as tree:
        there = [(tree / relative, label) for relative, label in again if (tree / relative).exists()]
        loaded = sources.load([p for p, _ in there], [label for _, label in there], allow_remote) if there else []
        rendered = sides(loaded, check(loaded, version)) if loaded else {}
    return {label: kept.get(label) or rendered[label] for label in [*current, *(lbl for _, lbl in again)]
            if label in kept or label in rendered}
