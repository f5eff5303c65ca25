"""Overlays render offline: a remote entry (a git repository or a URL) anywhere in a kustomization tree is
found before kustomize runs, since what it fetches is neither in the pull request under review nor fixed.

The walk follows every local folder the kustomization refers to (resources, components, bases), so a
remote entry two bases down is found too; each kustomization is read with the bounded YAML loader.
"""
import os
import re
import stat
from pathlib import Path

from generator.core import repo
from trainer import safe_yaml
from trainer.errors import UsageError

NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
FOLDERS = ("resources", "components", "bases")                 # entries that may be another kustomization
FILES = ("crds", "configurations", "generators", "transformers", "validators", "patchesStrategicMerge")
WITH_PATH = ("patches", "patchesJson6902", "replacements")       # lists of {path: ...}
GENERATORS = ("configMapGenerator", "secretGenerator")          # files: [key=path], envs: [path], env: path
MAX_KUSTOMIZATIONS = 500
GIT_HOSTS = ("github.com", "gitlab.com", "bitbucket.org")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*::)?[A-Za-z][A-Za-z0-9+.-]*://|^gh:|^[\w.-]+@[\w.-]+:")
_HOST = re.compile(r"^([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::\d+)?/")
_GIT_QUERY = re.compile(r"[?&](ref|version|timeout|submodules)=")


def is_remote(entry: str, folder: Path) -> bool:
    """kustomize would fetch entry: a URL (https://, git::, ssh://, file://), scp-like git@host:repo, a
    ?ref= query, a known git host, or host.name/path that is not a local path."""
    if _URL.match(entry) or _GIT_QUERY.search(entry):
        return True
    host = _HOST.match(entry)
    return bool(host) and (host[1].lower() in GIT_HOSTS or not os.path.lexists(folder / entry))


def _list(doc: dict, key: str) -> list:
    value = doc.get(key)
    return value if isinstance(value, list) else []


def _entries(doc: dict):
    """(field, entry, may be a folder) for every path-like string of one kustomization."""
    for field in FOLDERS + FILES:
        for entry in _list(doc, field):
            yield field, entry, field in FOLDERS
    for field in WITH_PATH:
        for item in _list(doc, field):
            if isinstance(item, dict):
                yield field, item.get("path"), False
    for field in GENERATORS:
        for item in _list(doc, field):
            if isinstance(item, dict):
                for key in ("files", "envs"):
                    for entry in _list(item, key):
                        name, sep, path = str(entry).partition("=")  # `key=path` or `path`, split as kustomize does
                        yield f"{field} {key}", path if sep else name, False
                yield f"{field} env", item.get("env"), False
    openapi = doc.get("openapi")
    if isinstance(openapi, dict):
        yield "openapi", openapi.get("path"), False
    for chart in _list(doc, "helmCharts"):
        if isinstance(chart, dict) and chart.get("repo"):
            yield "helmCharts repo", str(chart["repo"]), False


def kustomization_file(folder: Path) -> Path | None:
    return next((folder / name for name in NAMES if (folder / name).is_file()), None)


def _not_regular(path: Path) -> bool:
    """A FIFO, a socket or a device (kustomize would block on it or read without end); symlinks followed."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False  # missing, a loop or a NUL in the name: kustomize says so itself
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def refuse_remote(overlay: Path, allow_remote: bool = False) -> None:
    """UsageError naming the first remote entry (unless allow_remote) or the first entry that is a FIFO, a
    socket or a device in overlay's kustomization tree (file, field, entry), before kustomize reads any."""
    pending, seen = [Path(overlay)], set()
    while pending:
        folder = pending.pop()
        real = os.path.realpath(folder)
        if real in seen:
            continue  # a folder reached twice, or a loop of symbolic links: kustomize reports cycles itself
        seen.add(real)
        if len(seen) > MAX_KUSTOMIZATIONS:
            raise UsageError(f"{overlay} refers to more than {MAX_KUSTOMIZATIONS} kustomizations",
                             "check its resources for a loop")
        file = kustomization_file(folder)
        if file is None:
            continue
        doc = safe_yaml.load(safe_yaml.read_text(file), str(file))
        if not isinstance(doc, dict):
            continue  # kustomize says what is wrong with it
        for field, entry, may_be_folder in _entries(doc):
            if not isinstance(entry, str) or "\n" in entry:  # inline patches and generator configs
                continue
            if _not_regular(folder / entry):
                raise UsageError(f"{repo.relative(Path(os.path.normpath(folder / entry)))} ({field} of "
                                 f"{repo.relative(Path(os.path.normpath(file)))}) is not a regular file",
                                 "replace it with a regular file")
            if not allow_remote and is_remote(entry, folder):
                raise UsageError(f"{repo.relative(Path(os.path.normpath(file)))}: {field} entry {entry!r} is remote (fetched at render time, it is neither "
                                 "reviewable in the pull request nor reproducible)",
                                 "copy it into the repository and refer to the copy, or pass --allow-remote")
            if may_be_folder and (folder / entry).is_dir():
                pending.append(folder / entry)
