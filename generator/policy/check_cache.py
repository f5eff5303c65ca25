"""The checks of one source kept in the render cache (render/cache.py): its findings and waivers, keyed by all
that decides them, so that a lab's repository checks only what changed.

Every checker judges each source on its own (kubeconform validates each file alone, the rules read one
object or one source's objects, waivers are per source), so a source's findings are a function of:
- the source: its label, the file an annotation points at, and its text (its objects are parsed from it);
- the command: the Kubernetes version and --ignore-missing-schemas;
- the rules: the files of the schemas/ folder checked against (policy.yaml, rules.yaml, sizing.yaml, the JSON
  Schemas), as the checkers read them;
- the checkers: nautilus's own code (every .py file of generator/ and trainer/), Python's version and those
  of the libraries that judge (jsonschema, referencing, ruamel.yaml, tree-sitter, tree-sitter-bash) and of the API schemas
  (kubernetes-validate), and the kubeconform binary (its bytes and its version output);
- the image-published rule's view of the repository: TRAINER_IMAGE, the image it publishes (origin remote and
  the trainer code at HEAD) and its git tags.
A source whose findings say that a script took too long to parse (a verdict of the machine's load) is not
stored. A key that cannot be made (no kubeconform) means no cache: everything is checked.
"""
import hashlib
import json
import os
import platform
import subprocess
from dataclasses import asdict
from functools import cache
from importlib import metadata
from pathlib import Path

import trainer
from generator.core import published_image, repo, schemas
from generator.core.tools import find_tool
from generator.policy.findings import Finding, Waiver
from generator.policy.sleep import TOO_SLOW
from generator.render import cache as store
from generator.render.render_key import tool

FORMAT = "nautilus-check-1"
LIBRARIES = ("jsonschema", "referencing", "jsonschema-specifications", "ruamel.yaml", "tree-sitter",
             "tree-sitter-bash", "kubernetes-validate")
GENERATOR = Path(__file__).resolve().parents[1]


def _files_digest(folder: Path, pattern: str) -> list:
    return [[str(p.relative_to(folder)), hashlib.sha256(p.read_bytes()).hexdigest()]
            for p in sorted(folder.rglob(pattern)) if p.is_file() and "__pycache__" not in p.parts]


@cache
def _code() -> list:
    """nautilus's own code and the libraries that judge, once per process (it does not change under it)."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return [_files_digest(GENERATOR, "*.py"), _files_digest(Path(trainer.__file__).resolve().parent, "*.py"), versions,
            platform.python_version()]


def _git(root: Path, *args: str) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout if proc.returncode == 0 else ""


def context(version: str, ignore_missing: bool) -> str | None:
    """What every source's key shares in one command; None when it cannot be known (no kubeconform)."""
    kubeconform = find_tool("kubeconform", required=False)
    identity = tool(kubeconform, ["-v"]) if kubeconform else None
    if identity is None:
        return None
    root = repo.find()
    image = published_image.current(root) if root is not None else None
    rules = [schemas.policy(), schemas.sizing(), schemas.rule_schemas(), schemas.train_config_schema(),
             schemas.sweep_schema(), [asdict(rule) for rule in schemas.rules().values()]]  # as the checkers read them
    parts = [FORMAT, version, ignore_missing, identity, _code(), rules,
             os.environ.get(published_image.VARIABLE), str(image) if image else None,
             _git(root, "for-each-ref", "refs/tags") if root is not None else ""]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def keys(loaded, version: str, ignore_missing: bool, kind: str = "check") -> dict[str, str]:
    """{label: key} of what kind (check: findings and waivers; rows: the report's rows) is for each source;
    {} when the cache is off, outside a repository, or unsure (two sources with one label, no kubeconform)."""
    labels = [s.label for s in loaded]
    if not loaded or len(set(labels)) != len(labels) or not store.enabled() or store.folder() is None:
        return {}
    shared = context(version, ignore_missing)
    if shared is None:
        return {}
    return {s.label: f"{kind}-" + hashlib.sha256(json.dumps([kind, shared, s.label, s.file, s.text]).encode()).hexdigest()
            for s in loaded}


def get(where: Path, found: str) -> tuple[list[Finding], list[Waiver]] | None:
    body = store.get(where, found)
    try:
        return ([Finding(**f) for f in body["findings"]], [Waiver(**w) for w in body["waivers"]]) if body else None
    except (KeyError, TypeError):
        return None


def put(where: Path, found: str, findings: list[Finding], waivers: list[Waiver]) -> None:
    if not any(TOO_SLOW in f.message for f in findings):
        store.put(where, found, {"findings": [asdict(f) for f in findings], "waivers": [asdict(w) for w in waivers]})
