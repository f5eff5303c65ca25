"""Mutation testing of the modules that decide correctness: does the suite notice a small wrong change?

Each mutant is one small edit of one module (a comparison flipped, `and` for `or`, a `not` dropped, an
arithmetic operator swapped, a constant changed, a statement deleted). The module's test files (listed in
bench/mutation.yaml) first run once, unmutated, in a private copy of the repository, under coverage.py with
one context per test (bench/mutation_copy.py), which tells which tests execute which line, also in the
Python subprocesses they start (not in a process a test forks). Each mutant then runs only the tests that
reach its line, fastest first, stopping at the first failure, each test with a time limit of three times
its recorded time and 5 s. A mutant is killed when they fail, survives when they
pass, times out when they hang (a hang is noticed, so it counts as killed), and is not covered when no
test reaches its line (it counts as a survivor). A line run while the module is imported (a constant, a
default, a decorator) is reached by every test of the module. Known equivalent mutants (the same behaviour
written differently) are listed with their reason in bench/mutation.yaml and left out of the score. When a
module's tests run on the control plane (tests/cluster), one control plane is started for the whole run and
every mutant's tests attach to it, instead of each starting its own (about 10 s).

    .venv/bin/python bench/mutation.py generator/core/quantity.py trainer/pool.py
    .venv/bin/python bench/mutation.py --all --json results/mutation.json

Exit codes: 0 done (whatever the score), 1 the tests fail without any mutation (their first failure is
printed), 2 a module or test file named in the configuration does not exist, or no module named.
"""
import argparse
import ast
import contextlib
import copy
import itertools
import json
import os
import re
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

SITE = "sitecustomize.py"  # written at the copy's root while the tests are recorded
TIMED_OUT = 124  # the test server's answer when one test ran past its own limit (bench/mutation_copy.py)

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
    """The repository's tracked and untracked-but-not-ignored files, plus its tools and venv, in target."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, names):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    set_up = [name for name in (".tools", ".venv") if (REPO / name).is_dir()]  # what `make setup` built
    for name in set_up:
        (target / name).symlink_to(REPO / name)
    # a git work tree of its own, as tests that copy "this working tree" into a fork list its files with git;
    # links, which .gitignore's `/.tools/` does not match, excluded by name
    subprocess.run(["git", "init", "-q", str(target)], check=True)
    (target / ".git" / "info" / "exclude").write_text("".join(f"/{name}\n" for name in (*set_up, SITE)))
    return target


def _environment(copy_root: Path, extra: dict | None = None) -> dict:
    """The tests' environment: the private copy first on the import path (also for the Python subprocesses the
    tests start, which would otherwise import the unmutated package), its tools first on PATH."""
    paths = [str(copy_root), *(extra or {}).pop("PYTHONPATH", "").split(os.pathsep),
             *os.environ.get("PYTHONPATH", "").split(os.pathsep), str(REPO)]  # REPO last: bench.mutation_copy
    return dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1", **(extra or {}),
                PYTHONPATH=os.pathsep.join(dict.fromkeys(p for p in paths if p)),
                PATH=f"{copy_root / '.tools' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")


def _pytest(copy_root: Path, args: list[str], timeout: float, extra: dict | None = None):
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=copy_root,
                          env=_environment(copy_root, extra), capture_output=True, text=True, timeout=timeout)


def first_failure(output: str) -> str:
    """The first failure (or collection error) of a pytest run's output, as pytest printed it."""
    lines = output.splitlines()
    heads = [i for i, line in enumerate(lines) if re.fullmatch(r"_+ .+ _+", line)]
    if not heads:
        return "\n".join(lines[-30:])
    end = next((i for i in range(heads[0] + 1, len(lines))
                if re.fullmatch(r"_+ .+ _+", lines[i]) or lines[i].startswith("====")), len(lines))
    return "\n".join(lines[heads[0]:end])


@dataclass
class Record:
    """What the unmutated module's tests did: the tests that ran each line, and how long each test took."""
    lines: dict[int, set[str]]  # line -> node ids of the tests that ran it; "" for the module's import
    durations: dict[str, float]
    seconds: float  # the whole run, pytest's start included
    modules: list[str]  # what the tests imported from outside the copy (torch, pytest, ...)

    def tests_for(self, lines) -> list[str]:
        """The tests that reach any of these lines, fastest first; a line run while the module is imported
        (a constant, a default, a decorator) may matter to every test that uses the module."""
        reached = set().union(*(self.lines.get(line, set()) for line in lines))
        if "" in reached:
            reached = set(self.durations)
        return sorted(reached & set(self.durations), key=lambda test: (self.durations[test], test))


def record(copy_root: Path, module: str, tests: list[str]) -> Record:
    """Run the module's tests once, unmutated, under coverage with one context per test. Raises Failed with
    the first failure when they do not pass."""
    import coverage
    with tempfile.TemporaryDirectory(prefix="mutation-record-") as tmp:
        data = Path(tmp) / "data" / "coverage"
        data.parent.mkdir()
        site = copy_root / SITE  # on the tests' PYTHONPATH, also where a test sets only the copy there
        site.write_text("try:\n    import bench.mutation_copy\nexcept ImportError:  # a Python without coverage\n"
                        f"    pass\nelse:\n    bench.mutation_copy.start_in_subprocess({str(data)!r}, "
                        f"{str(copy_root / module)!r})\n")
        start = time.monotonic()
        try:
            proc = _pytest(copy_root, ["--tb=short", "-p", "bench.mutation_copy", *tests], timeout=3600,
                           extra={"MUTATION_DATA": str(data), "MUTATION_MODULE": str(copy_root / module)})
        finally:
            site.unlink()
        seconds = time.monotonic() - start
        if proc.returncode != 0:
            raise Failed(f"the tests of {module} fail without any mutation ({' '.join(tests)}); the first failure:\n"
                         + first_failure(proc.stdout + proc.stderr))
        run = json.loads(Path(tmp, "run.json").read_text())
        combined = coverage.Coverage(data_file=str(data), config_file=False)
        combined.combine([str(data.parent)])
        found = combined.get_data()
        lines: dict[int, set[str]] = {}
        for measured in found.measured_files():
            if Path(measured).resolve() == (copy_root / module).resolve():
                for line, contexts in found.contexts_by_lineno(measured).items():
                    lines[line] = set(contexts)
    return Record(lines, run["durations"], seconds, run["modules"])


class Failed(Exception):
    """The tool cannot go on: tests that fail unmutated (exit code 1)."""


class Missing(Failed):
    """bench/mutation.yaml names a file that does not exist (exit code 2)."""


def own_lines(tree: ast.AST) -> dict[ast.AST, range]:
    """For every node of the tree: the lines whose execution runs it, those of its innermost statement without
    the statements nested in it (an `if`'s test, not its body)."""
    owner: dict[ast.AST, range] = {}

    def visit(node: ast.AST, lines: range) -> None:
        if isinstance(node, ast.stmt):
            nested = [child.lineno for field in ("body", "orelse", "finalbody", "handlers")
                      for child in getattr(node, field, None) or [] if hasattr(child, "lineno")]
            first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            lines = range(first, (min(nested) if nested else node.end_lineno + 1))
        owner[node] = lines
        for child in ast.iter_child_nodes(node):
            visit(child, lines)
    visit(tree, range(0))
    return owner


class Runner:
    """Runs tests in the private copy, one mutant at a time: a server (bench/mutation_copy.py) that has imported
    what the tests import from outside the copy forks a fresh pytest for each mutant, which imports the
    (mutated) project afresh; only pytest's own start-up is paid per mutant."""

    def __init__(self, copy_root: Path, modules: list[str]):
        handle, name = tempfile.mkstemp(prefix="mutation-pytest-", suffix=".log")
        os.close(handle)
        self.output = Path(name)
        self.server = subprocess.Popen([sys.executable, "-c", "import bench.mutation_copy as m; m.serve()"],
                                       cwd=copy_root, env=_environment(copy_root), text=True,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._ask({"modules": modules})

    def _ask(self, request: dict) -> dict:
        self.server.stdin.write(json.dumps(request) + "\n")
        self.server.stdin.flush()
        answer = self.server.stdout.readline()
        if not answer:
            raise Failed(f"the test server stopped (exit code {self.server.wait()})")
        return json.loads(answer)

    def run(self, tests: list[str] | dict[str, float], timeout: float) -> tuple[str, float]:
        """tests: node ids, or node id -> that test's own time limit; timeout: the whole run's."""
        start = time.monotonic()
        limits = tests if isinstance(tests, dict) else dict.fromkeys(tests, timeout)
        rc = self._ask({"tests": limits, "timeout": timeout, "output": str(self.output)})["rc"]
        seconds = time.monotonic() - start
        if rc is None or rc == TIMED_OUT:
            return "timed out", seconds
        if rc == 4 and "found no collectors" in self.output.read_text(errors="replace"):
            return "killed", seconds  # the mutant breaks the import of a test file
        return {0: "survived", 1: "killed", 2: "killed", 3: "killed"}.get(rc, "error"), seconds

    def close(self) -> None:
        self.server.stdin.close()
        self.server.wait()
        self.output.unlink(missing_ok=True)


def mutate_module(copy_root: Path, module: str, tests: list[str], equivalent: dict[str, str]) -> list[Mutant]:
    path = copy_root / module
    original = path.read_text()
    recorded = record(copy_root, module, tests)
    print(f"  recorded {len(recorded.durations)} tests in {recorded.seconds:.0f} s", file=sys.stderr, flush=True)
    tree = ast.parse(original)
    owners = own_lines(tree)
    lines_of = [owners[node] for node, _, _ in _sites(tree)]
    found = []
    runner = Runner(copy_root, recorded.modules)
    try:
        for (mutant, source), lines in zip(mutants(original, module), lines_of):
            selected = recorded.tests_for(lines)
            if mutant.key in equivalent:
                mutant.status = "equivalent"
            elif not selected:
                mutant.status = "not covered"
            else:
                path.write_text(source)
                # each test: three times its own time and 5 s; the whole run: that and pytest's start
                limits = {test: 5.0 + 3 * recorded.durations[test] for test in selected}
                mutant.status, mutant.seconds = runner.run(limits, 10.0 + sum(limits.values()))
            found.append(mutant)
            print(f"  {mutant.status:11} {mutant.key}  ({len(selected)} tests, {mutant.seconds:.1f} s)",
                  file=sys.stderr, flush=True)
    finally:
        runner.close()
        path.write_text(original)
    return found


STATUSES = ("killed", "survived", "timed out", "not covered", "error", "equivalent")


def score(found: list[Mutant]) -> dict:
    """A timed-out mutant counts as killed (the hang is noticed); not covered and error count as survived."""
    counted = [m for m in found if m.status != "equivalent"]
    killed = sum(m.status in ("killed", "timed out") for m in counted)
    return {"mutants": len(found), **{status: sum(m.status == status for m in found) for status in STATUSES},
            "score": round(100 * killed / len(counted), 1) if counted else 100.0}


def check_files(config: dict, modules: list[str], source: Path = CONFIG) -> None:
    """Every module named and every test file listed for it exists; raises Missing naming the first missing."""
    for module in modules:
        for name in (module, *config["modules"][module]):
            if not (REPO / name).is_file():
                raise Missing(f"{source.name} names {name} (for {module}), and there is no such file")


CLUSTER_TESTS = "tests/cluster/"


@contextlib.contextmanager
def shared_control_plane(needed: bool, folder: Path):
    """When needed, a control plane running for the whole block, which the tests attach to (its folder in the
    environment variable tests/cluster/controlplane.py names)."""
    if not needed:
        yield
        return
    sys.path.insert(0, str(REPO))
    from tests.cluster.controlplane import SHARED, ControlPlane
    folder.mkdir()
    start = time.monotonic()
    plane = ControlPlane(folder).start()
    print(f"  control plane started in {time.monotonic() - start:.0f} s, shared by every mutant", file=sys.stderr, flush=True)
    os.environ[SHARED] = str(folder)
    try:
        yield
    finally:
        os.environ.pop(SHARED, None)
        plane.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="module paths as listed in bench/mutation.yaml")
    parser.add_argument("--all", action="store_true", help="every module listed in bench/mutation.yaml")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--config", type=Path, default=CONFIG, help="the modules, their tests and the equivalent mutants")
    args = parser.parse_args(argv)
    config = YAML(typ="safe").load(args.config.read_text())
    modules = list(config["modules"]) if args.all else args.modules
    unknown = [m for m in modules if m not in config["modules"]]
    if not modules or unknown:
        print(f"error: name modules listed in {args.config} (unknown: {', '.join(unknown) or 'none given'})",
              file=sys.stderr)
        return 2
    equivalent = {key: reason for key, reason in (config.get("equivalent") or {}).items()}
    results, seconds = {}, {}
    try:
        check_files(config, modules, args.config)
        cluster = any(t.startswith(CLUSTER_TESTS) for m in modules for t in config["modules"][m])
        with tempfile.TemporaryDirectory(prefix="mutation-") as tmp, \
                tempfile.TemporaryDirectory(prefix="mutation-controlplane-") as plane, \
                shared_control_plane(cluster, Path(plane) / "controlplane"):
            copy_root = private_copy(Path(tmp))
            for module in modules:
                print(f"{module}: tests {' '.join(config['modules'][module])}", file=sys.stderr, flush=True)
                start = time.monotonic()
                results[module] = mutate_module(copy_root, module, config["modules"][module], equivalent)
                seconds[module] = time.monotonic() - start
                print(f"{module}: {seconds[module]:.0f} s", file=sys.stderr, flush=True)
    except Failed as error:
        print(f"error: {error}", file=sys.stderr)
        return 2 if isinstance(error, Missing) else 1
    print("\n| module | mutants | killed | survived | timed out | not covered | error | equivalent | score | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for module, found in results.items():
        s = score(found)
        print(f"| {module} | {s['mutants']} | {' | '.join(str(s[k]) for k in STATUSES)} | {s['score']}% "
              f"| {seconds[module]:.0f} |")
    survivors = [m for found in results.values() for m in found if m.status in ("survived", "not covered", "error")]
    if survivors:
        print("\nSurvivors (a test should notice each, or it is equivalent: list it with its reason in bench/mutation.yaml):")
        for m in survivors:
            print(f"  {m.status:11} {m.key}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({m: {"score": score(f), "seconds": round(seconds[m], 1),
                                             "mutants": [asdict(x) for x in f]} for m, f in results.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
