"""The house's layers: generator/'s wings import only the wings before them, nothing imports in a circle,
trainer/ never imports generator/, readers never import writers, and no module takes another's private names."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# generator/__init__.py's order: a wing may import itself and those before it; cli.py and demo.py use all.
WINGS = ["core", "scaffold", "render", "policy", "review", "deploy"]
# modules that read what another module writes, and must not import it (a reader stays usable alone)
READERS = {"trainer.shards": "trainer.prepare"}


def modules(package: str) -> dict[str, Path]:
    found = {}
    for path in sorted((REPO / package).rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


ALL = {**modules("generator"), **modules("trainer")}


def imports(name: str) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import anywhere in the module, lazy ones too."""
    path = ALL[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:  # `from pkg import module` imports the module
                if f"{base}.{alias.name}" in ALL:
                    found.append((f"{base}.{alias.name}", [], node.lineno))
                else:
                    found.append((base, [alias.name], node.lineno))
    return [(target, names, line) for target, names, line in found if target.split(".")[0] in ("generator", "trainer")]


def edges() -> dict[str, set[str]]:
    return {name: {target for target, _, _ in imports(name) if target in ALL and target != name} for name in ALL}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def wing(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if parts[0] == "generator" and len(parts) > 2 and parts[1] in WINGS else None


def test_no_import_cycle_in_generator_or_trainer():
    assert find_cycle(edges()) is None


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_trainer_never_imports_generator():
    wrong = [(name, target) for name in ALL if name.startswith("trainer")
             for target, _, _ in imports(name) if target.startswith("generator")]
    assert wrong == []


def test_each_wing_imports_only_the_wings_before_it():
    wrong = []
    for name in ALL:
        mine = wing(name)
        if mine is None:
            continue
        for target, _, line in imports(name):
            theirs = wing(target)
            if target.startswith("generator") and (theirs is None and target not in ("generator",)
                                                   or theirs and WINGS.index(theirs) > WINGS.index(mine)):
                wrong.append(f"{ALL[name].relative_to(REPO)}:{line} imports {target}")
    assert wrong == []


def test_no_module_of_generator_sits_outside_a_wing_but_the_entry_points():
    loose = {name for name in ALL if name.startswith("generator.") and wing(name) is None
             and name.split(".")[1] not in WINGS}
    assert loose == {"generator.cli", "generator.demo"}


@pytest.mark.parametrize("reader, writer", READERS.items())
def test_readers_never_import_writers(reader, writer):
    assert [t for t, _, _ in imports(reader) if t == writer or t.startswith(writer + ".")] == []


def test_no_module_imports_another_modules_private_names():
    wrong = [f"{ALL[name].relative_to(REPO)}:{line} takes {target}.{taken}" for name in ALL
             for target, names, line in imports(name) for taken in names
             if taken.startswith("_") and not taken.startswith("__") and target != name]
    assert wrong == []
