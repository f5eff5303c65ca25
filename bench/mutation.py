"""Mutation testing of the modules that decide correctness: does the suite notice a small wrong change?

Each mutant is one small edit of one module (a comparison flipped, `and` for `or`, a `not` dropped, an
arithmetic operator swapped, a constant changed, a statement deleted). The module's own tests (listed in
bench/mutation.yaml) then run against it, serially, in a private copy of the repository, with a time
limit per mutant. A mutant is killed when they fail, survives when they pass, and times out when they
hang (a hang is noticed, so it counts as killed). Known equivalent mutants (the same behaviour written
differently) are listed with their reason in bench/mutation.yaml and left out of the score.

    .venv/bin/python bench/mutation.py generator/core/quantity.py trainer/pool.py
    .venv/bin/python bench/mutation.py --all --json results/mutation.json
"""
import argparse
import ast
import copy
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "bench" / "mutation.yaml"

SWAPS = {  # operator -> the operator a mutant puts in its place
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
    ast.And: ast.Or, ast.Or: ast.And,
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
    ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult,
}
DELETABLE = (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Raise, ast.Return, ast.Delete)


@dataclass
class Mutant:
    module: str
    line: int
    change: str
    status: str = ""
    seconds: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.module}:{self.line}: {self.change}"


def _is_docstring(node: ast.AST, parent: ast.AST | None) -> bool:
    body = getattr(parent, "body", None)
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            and isinstance(body, list) and body and body[0] is node)


def _changes(node: ast.AST, parent: ast.AST | None):
    """(description, function that applies the change in place) for each mutant of one node."""
    def swap(owner, attr, index=None):
        old = getattr(owner, attr) if index is None else getattr(owner, attr)[index]
        new = SWAPS[type(old)]

        def apply():
            if index is None:
                setattr(owner, attr, new())
            else:
                getattr(owner, attr)[index] = new()
        return f"{type(old).__name__} -> {new.__name__}", apply

    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in SWAPS:
                yield swap(node, "ops", i)
    elif isinstance(node, (ast.BoolOp, ast.BinOp)) and type(node.op) in SWAPS:
        yield swap(node, "op")
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        yield f"drop {type(node.op).__name__}", lambda: _replace(node, node.operand)
    elif isinstance(node, ast.Constant) and isinstance(node.value, (bool, int, float)):  # not str, None, `...`
        value = node.value
        new = (not value) if isinstance(value, bool) else (value + 1 if value != 1 else 0)
        yield f"{value!r} -> {new!r}", lambda: setattr(node, "value", new)
    elif isinstance(node, (ast.If, ast.While)) and not _is_main_guard(node):
        test = node.test
        yield "condition negated", lambda: setattr(node, "test", ast.UnaryOp(op=ast.Not(), operand=test))
    if isinstance(node, DELETABLE) and not _is_docstring(node, parent):
        yield f"delete {type(node).__name__.lower()}", lambda: _replace(node, ast.Pass())


def _is_main_guard(node: ast.AST) -> bool:
    return "__name__" in ast.unparse(getattr(node, "test", ast.Constant(None)))


def _replace(node: ast.AST, new: ast.AST) -> None:
    node.__class__ = new.__class__
    node.__dict__.clear()
    node.__dict__.update(copy.deepcopy(new).__dict__)


def _sites(tree: ast.AST):
    """(node, description, function that applies the change) for every mutant of a tree, in a fixed order."""
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            for change, apply in _changes(child, parent):
                yield child, change, apply


def listing(source: str, module: str) -> list[Mutant]:
    """Every mutant of a module's source, without making it."""
    return [Mutant(module, node.lineno, change) for node, change, _ in _sites(ast.parse(source))]


def mutants(source: str, module: str):
    """Every mutant of a module's source as (Mutant, mutated source); the source is parsed afresh for each."""
    for index in range(len(listing(source, module))):
        tree = ast.parse(source)
        node, change, apply = next(itertools.islice(_sites(tree), index, None))
        mutant = Mutant(module, node.lineno, change)  # before the change: a deleted statement loses its line
        apply()
        ast.fix_missing_locations(tree)
        yield mutant, ast.unparse(tree)


def private_copy(target: Path) -> Path:
    """The repository's tracked and untracked-but-not-ignored files, plus its tools, in target."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, names):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    if (REPO / ".tools").is_dir():
        (target / ".tools").symlink_to(REPO / ".tools")
    return target


def run_tests(copy_root: Path, tests: list[str], timeout: float) -> tuple[str, float]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1",
               PATH=f"{copy_root / '.tools' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    start = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                              cwd=copy_root, env=env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timed out", time.monotonic() - start
    return ("survived" if proc.returncode == 0 else "killed"), time.monotonic() - start


def mutate_module(copy_root: Path, module: str, tests: list[str], equivalent: dict[str, str]) -> list[Mutant]:
    path = copy_root / module
    original = path.read_text()
    status, baseline = run_tests(copy_root, tests, timeout=1800)
    if status != "survived":
        raise SystemExit(f"error: the tests of {module} fail without any mutation ({' '.join(tests)}); fix them first")
    timeout = max(20.0, 4 * baseline)
    found = []
    try:
        for mutant, source in mutants(original, module):
            if mutant.key in equivalent:
                mutant.status = "equivalent"
            else:
                path.write_text(source)
                mutant.status, mutant.seconds = run_tests(copy_root, tests, timeout)
            found.append(mutant)
            print(f"  {mutant.status:10} {mutant.key}", file=sys.stderr, flush=True)
    finally:
        path.write_text(original)
    return found


def score(found: list[Mutant]) -> dict:
    counted = [m for m in found if m.status != "equivalent"]
    killed = sum(m.status in ("killed", "timed out") for m in counted)
    return {"mutants": len(found), "killed": sum(m.status == "killed" for m in counted),
            "survived": sum(m.status == "survived" for m in counted),
            "timed out": sum(m.status == "timed out" for m in counted),
            "equivalent": len(found) - len(counted),
            "score": round(100 * killed / len(counted), 1) if counted else 100.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="module paths as listed in bench/mutation.yaml")
    parser.add_argument("--all", action="store_true", help="every module listed in bench/mutation.yaml")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    config = YAML(typ="safe").load(CONFIG.read_text())
    modules = list(config["modules"]) if args.all else args.modules
    unknown = [m for m in modules if m not in config["modules"]]
    if not modules or unknown:
        raise SystemExit(f"error: name modules listed in {CONFIG.relative_to(REPO)} (unknown: {', '.join(unknown) or 'none given'})")
    equivalent = {key: reason for key, reason in (config.get("equivalent") or {}).items()}
    results = {}
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        copy_root = private_copy(Path(tmp))
        for module in modules:
            print(f"{module}: tests {' '.join(config['modules'][module])}", file=sys.stderr, flush=True)
            results[module] = mutate_module(copy_root, module, config["modules"][module], equivalent)
    print("\n| module | mutants | killed | timed out | survived | equivalent | score |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for module, found in results.items():
        s = score(found)
        print(f"| {module} | {s['mutants']} | {s['killed']} | {s['timed out']} | {s['survived']} | {s['equivalent']} | {s['score']}% |")
    survivors = [m for found in results.values() for m in found if m.status == "survived"]
    if survivors:
        print("\nSurvivors (a test should notice each, or it is equivalent: list it with its reason in bench/mutation.yaml):")
        for m in survivors:
            print(f"  {m.key}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({m: {"score": score(f), "mutants": [asdict(x) for x in f]}
                                         for m, f in results.items()}, indent=2))


if __name__ == "__main__":
    main()
