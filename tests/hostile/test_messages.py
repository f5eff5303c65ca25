"""Class 7, messages: every refusal is one line `error: <what>; <how to fix>`, whatever the input holds
(newlines, NUL bytes, escape sequences) and whoever raised it (our checks, kustomize, click)."""
import pytest

from hostile_support import nautilus, pod, project, refused


def test_nul_byte_in_yaml_is_one_line(tmp_path):
    (tmp_path / "x.yaml").write_bytes(b"kind: Pod\nmetadata: {name: a\x00b}\n")
    refused(nautilus("validate", tmp_path / "x.yaml"), "not valid YAML", r"'\x00'")


@pytest.mark.parametrize("folder", ["/sys", "/proc"])
def test_init_on_an_unwritable_folder_names_no_option_init_lacks(folder):
    line = refused(nautilus("init", folder, "--force"), f"cannot write in {folder}")
    assert "--output-dir" not in line


def test_newlines_and_escape_sequences_in_a_name_stay_on_the_line(tmp_path):
    line = refused(nautilus("new", "a\nb\x1b[31m", "--namespace", "ns", "--output-dir", tmp_path), "is not a DNS-1123 label")
    assert r"a\nb\x1b[31m" in line and "\x1b" not in line


def test_kustomize_error_spread_over_lines_is_one_line(tmp_path):
    root = project(tmp_path)
    (root / "overlays/demo/kustomization.yaml").write_text("resources:\n  - missing.yaml\n  - ../../base\nbogusField: 1\n")
    refused(nautilus("validate", "overlays/demo", cwd=root), "kustomize could not render overlays/demo")


@pytest.mark.parametrize("args, expect", [
    (("validate", "--bogus"), "No such option '--bogus'; see `nautilus validate --help`"),
    (("--bogus",), "No such option '--bogus'; see `nautilus --help`"),
    (("validate", "--format", "xml", "x"), "Invalid value for '--format'"),
    (("frobnicate",), "No such command 'frobnicate'"),
    (("new",), "Missing argument 'NAME'"),
])
def test_click_usage_errors_are_one_line(args, expect):
    refused(nautilus(*args), expect)


def test_malformed_yaml_names_line_and_column_on_one_line(tmp_path):
    (tmp_path / "x.yaml").write_text(pod() + "  bad: [\n")
    refused(nautilus("validate", tmp_path / "x.yaml"), "x.yaml line", "column", "not valid YAML")
