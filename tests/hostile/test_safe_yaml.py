"""The one bounded YAML loader (trainer/safe_yaml.py) that the CLI and the trainer parse untrusted YAML with."""
import os
import time

import pytest

from trainer import safe_yaml
from trainer.safe_yaml import YAMLInputError, load, load_all, read_text


def bomb(levels: int = 9, width: int = 9, indent: str = "") -> str:
    """A billion-laughs mapping: each level a list of `width` aliases of the previous one."""
    lines = [f"{indent}l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"{indent}l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def raises(text: str, expect: str, **bounds) -> str:
    start = time.perf_counter()
    with pytest.raises(YAMLInputError) as info:
        load_all(text, "in.yaml", **bounds)
    assert time.perf_counter() - start < 2
    message = str(info.value)
    assert "\n" not in message and expect in message and "; " in message
    return message


@pytest.mark.parametrize("text", [
    bomb(),                                                                 # top level
    "kind: Pod\nspec:\n  containers:\n  - name: c\n    command:\n    - sh\n    - {\n" + bomb().replace("\n", ",\n") + "}\n",
    "a:\n  b:\n    c:\n" + bomb(indent="      "),                         # nested in a mapping
    "---\nkind: A\n---\n" + bomb(levels=7, width=8),                      # a later document
    "x: &x [a, a, a, a, a, a, a, a, a, a]\n" + "\n".join(f"y{i}: [*x, *x, *x, *x, *x, *x, *x, *x, *x, *x]" for i in range(5000)),
], ids=["top-level", "container-command", "nested-mapping", "later-document", "wide"])
def test_alias_bombs_anywhere_are_refused_in_milliseconds(text):
    raises(text, "expands to more than")


def test_aliases_count_as_the_subtree_they_name():
    tree = "a: &a {b: [1, 2, 3]}\nc: *a\n"  # root 1, a 1, anchored subtree 6 ({b: [1, 2, 3]}), c 1, the alias 6
    assert load_all(tree, max_nodes=15) == [{"a": {"b": [1, 2, 3]}, "c": {"b": [1, 2, 3]}}]
    raises(tree, "expands to more than 14", max_nodes=14)


@pytest.mark.parametrize("text", ["[" * 10000 + "]" * 10000, "{a: " * 10000 + "1" + "}" * 10000,
                                  "".join("  " * i + f"k{i}:\n" for i in range(500)) + "  " * 500 + "v\n",
                                  "".join("  " * i + "-\n" for i in range(300))], ids=["flow-list", "flow-map", "block-map", "block-list"])
def test_deep_nesting_is_refused_without_recursion_error(text):
    raises(text, "nests deeper than 64 levels")


def test_depth_through_an_alias_counts():
    deep = "a: &a " + "[" * 40 + "]" * 40 + "\n"
    assert load_all(deep)
    raises(deep + "b: " + "[" * 30 + "*a" + "]" * 30 + "\n", "nests deeper than 64")


@pytest.mark.parametrize("text, expect", [
    ("a: b\x00c\n", r"character '\x00' at position 4 is not allowed"),
    ("a: [\n", "line 2 column 1: not valid YAML"),
    ("a: 1\na: 2\n", "duplicate key"),
    ("a: *nowhere\n", "undefined alias"),
    ("a: !python/object:os.system x\n", "could not determine a constructor"),
])
def test_malformed_yaml_is_one_line_naming_the_place(text, expect):
    raises(text, expect)


def test_load_takes_one_document_and_dates_stay_strings():
    assert load("run: 2024-01-02\nlr: 1e400\n") == {"run": "2024-01-02", "lr": float("inf")}
    assert load("") is None
    with pytest.raises(YAMLInputError, match="holds 2 YAML documents"):
        load("a: 1\n---\nb: 2\n", "train.yaml")


def test_read_text_refuses_devices_fifos_folders_and_big_or_binary_files(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: b\n" * (safe_yaml.MAX_BYTES // 5 + 1))
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"name: caf\xe9\n")
    for path, expect in [("/dev/zero", "not a regular file"), (fifo, "not a regular file"), (tmp_path, "not a regular file"),
                         (big, "larger than 8 MiB"), (latin, "not UTF-8 text (byte 9 is 0xe9)"),
                         (tmp_path / "missing", "cannot read")]:
        start = time.perf_counter()
        with pytest.raises(YAMLInputError, match=expect.replace("(", r"\(").replace(")", r"\)")):
            read_text(path)
        assert time.perf_counter() - start < 2
    (tmp_path / "ok.yaml").write_text("a: é\n")
    assert read_text(tmp_path / "ok.yaml") == "a: é\n"


def test_one_line_escapes_controls_and_joins_lines():
    assert safe_yaml.one_line("a\nb\x00c\u2028 d\t e\x1b[31m") == r"a b\x00c d e\x1b[31m"
