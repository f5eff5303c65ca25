"""The before side of `nautilus report --base REF`: each overlay as it was at REF, rendered and checked.

Only what can differ is rendered again: an overlay that the change since REF does not reach (render/changes.py:
none of its inputs, nor the schemas/ it is checked against, changed) is the same at both refs, so its current
render, rows and findings stand for both. Both sides are checked against
the current schemas/: the rules that will apply once the change is merged.
"""
from dataclasses import dataclass
from pathlib import Path

from generator.core import gitref
from generator.core import repo as repository
from generator.policy.check import check
from generator.policy.findings import Finding, Result, Waiver
from generator.render import sources
from generator.render.changes import since
from generator.review.cached_rows import all_rows
from generator.review.inventory import Row
from trainer.errors import UsageError


@dataclass
class Side:
    """One overlay (or file) at one ref."""
    text: str
    rows: list[Row]
    findings: list[Finding]
    waivers: list[Waiver]


def sides(loaded: list[sources.Source], result: Result) -> dict[str, Side]:
    found = all_rows(loaded)
    return {s.label: Side(s.text, found[s.label], [f for f in result.findings if f.source == s.label],
                          [w for w in result.waivers if w.source == s.label]) for s in loaded}


def before(ref: str, items: list, current: dict[str, Side], version: str, use_all: bool,
           allow_remote: bool = False, named: dict | None = None) -> dict[str, Side]:
    """{label: Side at ref} for the inputs (in the order of current) and, with --all, the overlays removed
    since ref; an input that did not exist at ref has no entry. named: the kustomizations read for the
    current side (render_key.Memo.named)."""
    changes = since(ref, named=named)
    top = changes.top
    schemas = repository.schemas().resolve()
    policy = {schemas.relative_to(top)} if schemas.is_relative_to(top) else set()
    kept, again = {}, []
    for item, label in zip(items, current):
        if item == "-":
            raise UsageError("--base cannot compare stdin", "pass overlay folders or YAML files")
        if changes.affects(Path(item), policy):
            again.append((Path(item).resolve().relative_to(top), label))
        else:
            kept[label] = current[label]
    if use_all:
        again += [(p, label) for p in changes.removed()
                  if (label := sources.label_for(repository.overlays() / p.name)) not in current]
    if not again:
        return kept
    with gitref.checkout(ref, top) as tree:
        there = [(tree / relative, label) for relative, label in again if (tree / relative).exists()]
        loaded = sources.load([p for p, _ in there], [label for _, label in there], allow_remote) if there else []
        rendered = sides(loaded, check(loaded, version)) if loaded else {}
    return {label: kept.get(label) or rendered[label] for label in [*current, *(lbl for _, lbl in again)]
            if label in kept or label in rendered}
