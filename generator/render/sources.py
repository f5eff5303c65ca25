"""What `validate` and `report` read: overlays (rendered in parallel), YAML files, or stdin."""
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from generator.core import repo
from generator.render import cache
from generator.render.kustomize import build, load_documents
from generator.render.render_key import flush, Memo
from trainer import safe_yaml
from trainer.errors import UsageError


@dataclass
class Source:
    label: str          # as printed: overlays/x, a file name, or -
    file: str           # what an annotation points at: the kustomization.yaml or the file itself
    text: str
    docs: list[dict]


label_for = repo.relative


def all_overlays(root: Path | None = None) -> list[Path]:
    root = root if root is not None else repo.overlays()
    overlays = sorted(p for p in root.glob("*") if (p / "kustomization.yaml").is_file())
    if not overlays:
        raise UsageError(f"no overlays under {root}", "create one with `nautilus new NAME`")
    return overlays


def resolve(paths: tuple[str, ...], use_all: bool) -> list[Path | str]:
    """The inputs as paths (overlay folders or files) or `-`; UsageError when missing or contradictory."""
    if use_all and paths:
        raise UsageError("--all and PATH given together", "pass either --all or the paths to check")
    if use_all:
        return list(all_overlays())
    if not paths:
        raise UsageError("nothing to check", "pass an overlay folder, a YAML file, `-` for stdin, or --all")
    inputs: list[Path | str] = []
    for raw in paths:
        if raw == "-":
            inputs.append("-")
            continue
        path = Path(raw)
        if not path.exists():
            raise UsageError(f"{raw} does not exist", "pass an overlay folder, a YAML file or `-`")
        if path.is_dir() and not (path / "kustomization.yaml").is_file():
            raise UsageError(f"{raw} is a folder without kustomization.yaml", "pass an overlay folder such as overlays/horse2zebra")
        inputs.append(path)
    return inputs


def cpus() -> int:
    """The CPUs this process may run on (its affinity, as a container or taskset limits it)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS has no affinity
        return os.cpu_count() or 1


def _read(item: Path | str, label: str | None = None, allow_remote: bool = False, memo: Memo | None = None) -> Source:
    """One input as text and objects: stdin and files read bounded (regular files only), overlays rendered."""
    label = "-" if item == "-" else label or label_for(Path(item))
    if item != "-" and Path(item).is_dir():
        text, docs = build(Path(item), allow_remote, memo, label)
        return Source(label, f"{label}/kustomization.yaml", text, docs)
    text = safe_yaml.read_text(item, label)
    return Source(label, "" if item == "-" else label, text, load_documents(text, label))


def load(inputs: list[Path | str], labels: list[str] | None = None, allow_remote: bool = False,
         memo: Memo | None = None) -> list[Source]:
    """Every input read or rendered (labels: how to name them instead of their paths). Renders the cache
    holds cost no process; the others run kustomize in parallel threads, one per CPU this process may use
    (each render spends its time in its own process). What they learnt is stored once all succeeded, and the
    cache trimmed to its bound.
    memo: what the command learnt of the tree before (its kustomizations), to share with what it asks next."""
    memo = memo if memo is not None else Memo()
    read = partial(_read, allow_remote=allow_remote, memo=memo)
    with ThreadPoolExecutor(max_workers=min(len(inputs), cpus()) or 1) as pool:
        loaded = list(pool.map(read, inputs, labels or [None] * len(inputs)))  # the first failure raises, in input order
    if flush(memo):  # every render succeeded: store what they learnt, then trim the cache
        cache.evict(cache.folder())
    return loaded
