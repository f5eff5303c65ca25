"""Helpers for the validate/report tests: build corpus cases, copy the clean project, run the CLI."""
import copy
import json
import shutil
from pathlib import Path

from click.testing import CliRunner
from ruamel.yaml import YAML

from generator.cli import main

HERE = Path(__file__).parent
yaml = YAML(typ="safe")


def load_yaml(path: Path):
    return yaml.load(path.read_text())


def _parts(pointer: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]


def _parent(doc, parts):
    for part in parts[:-1]:
        doc = doc[int(part)] if isinstance(doc, list) else doc.setdefault(part, {})
    return doc


def pointer_set(doc, pointer: str, value) -> None:
    parts = _parts(pointer)
    parent = _parent(doc, parts)
    if isinstance(parent, list):
        parent.append(value) if parts[-1] == "-" else parent.__setitem__(int(parts[-1]), value)
    else:
        parent[parts[-1]] = value


def pointer_delete(doc, pointer: str) -> None:
    parts = _parts(pointer)
    parent = _parent(doc, parts)
    del parent[int(parts[-1]) if isinstance(parent, list) else parts[-1]]


def cases() -> list[dict]:
    return load_yaml(HERE / "cases.yaml")


def build_case(case: dict) -> dict:
    doc = copy.deepcopy(load_yaml(HERE / "baselines" / f"{case['base']}.yaml"))
    for pointer in case.get("delete", []):
        pointer_delete(doc, pointer)
    for pointer, value in (case.get("set") or {}).items():
        pointer_set(doc, pointer, value)
    for pointer, size in (case.get("grow") or {}).items():  # a string of this many characters (size limits)
        pointer_set(doc, pointer, "x" * size)
    return doc


def write_yaml(path: Path, *docs) -> Path:
    with path.open("w") as out:
        yaml.dump_all(list(docs), out)
    return path


def copy_project(target: Path) -> Path:
    """The clean project (base + overlays/demo) copied into target; returns target."""
    shutil.copytree(HERE / "project", target, dirs_exist_ok=True)
    return target


def run(*args: str, stdin: str | None = None):
    """The real CLI, in process: (exit code, stdout, stderr)."""
    result = CliRunner().invoke(main, [str(a) for a in args], input=stdin, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def run_json(*args: str):
    code, out, err = run(*args, "--format", "json")
    return code, json.loads(out), err
