"""What an overlay is built from: its folder and every path its kustomizations name, followed recursively.

`nautilus report --base` renders the base side of an overlay only when one of these changed. Every string
in a kustomization that names an existing local path counts (resources, components, patches, generator
files, replacements, ...): naming too much only costs a render, naming too little would show a stale
before. A path outside the repository, or a kustomization that cannot be read, makes the answer None:
"unknown", rendered again.
"""
from pathlib import Path

from trainer import safe_yaml

KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _kustomization(folder: Path) -> Path | None:
    return next((folder / name for name in KUSTOMIZATIONS if (folder / name).is_file()), None)


def candidates(text: str, source: str) -> list[str] | None:
    """The strings of a kustomization's text that may name a path (every string, and the path of key=path),
    sorted; None when it is not bounded YAML. A pure function of the text: render_key.py keeps it."""
    try:
        doc = safe_yaml.load(text, source)
    except safe_yaml.YAMLInputError:
        return None
    return sorted({name for text in _strings(doc) for name in {text, text.partition("=")[2]} - {""}  # key=path
                   if "\n" not in name and len(name) < 4096})


def _named(folder: Path, parse=candidates) -> list[Path] | None:
    """The existing paths folder's kustomization names ([] without one); None when it cannot be read."""
    kustomization = _kustomization(folder)
    if kustomization is None:
        return []
    try:
        names = parse(safe_yaml.read_text(kustomization), str(kustomization))
    except safe_yaml.YAMLInputError:
        return None
    return None if names is None else [(folder / name).resolve() for name in names if (folder / name).exists()]


def inputs(source: Path, top: Path, known: dict[Path, list[Path] | None] | None = None,
           parse=candidates) -> set[Path] | None:
    """The files and folders (relative to top) that source, an overlay folder or a YAML file, is built from.
    known: what each folder's kustomization names, kept between calls on the same tree (bases are shared);
    parse: candidates, or a function that gives what it gives."""
    top, known = top.resolve(), {} if known is None else known
    found: set[Path] = set()
    pending = [Path(source).resolve()]
    while pending:
        path = pending.pop()
        if not path.is_relative_to(top):
            return None
        relative = path.relative_to(top)
        if relative in found:
            continue
        found.add(relative)
        if path.is_dir():
            if path not in known:
                known[path] = _named(path, parse)
            if known[path] is None:
                return None
            pending += known[path]
    return found


def touches(paths: set[Path], changed: set[Path]) -> bool:
    """Whether a changed path (a file, or a whole untracked folder) lies in or above one of paths."""
    return any(c == p or p in c.parents or c in p.parents for p in paths for c in changed)
