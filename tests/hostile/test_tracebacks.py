"""Class 3, tracebacks: input that used to crash `nautilus` with a Python traceback gets its own check and
one error line; a top-level handler turns anything still unforeseen into one line (exit 3) as a safety net."""
import pytest
from click.testing import CliRunner

from generator.policy import command as validate
from generator.cli import DEBUG_ENV, main
from hostile_support import nautilus, pod, project, refused, snapshot


def test_non_utf8_bytes_on_stdin():
    refused(nautilus("validate", "-", stdin=pod().encode() + b"# caf\xe9\n"), "- is not UTF-8 text", "save it as UTF-8")


def test_non_utf8_file(tmp_path):
    (tmp_path / "pod.yaml").write_bytes(b"\xff\xfe" + pod().encode("utf-16-le"))
    refused(nautilus("validate", tmp_path / "pod.yaml"), "pod.yaml is not UTF-8 text (byte 0 is 0xff)")


def test_non_utf8_kustomization_in_an_overlay(tmp_path):
    root = project(tmp_path)
    kustomization = root / "overlays/demo/kustomization.yaml"
    kustomization.write_bytes(kustomization.read_bytes() + b"# \x81\n")
    before = snapshot(root)
    refused(nautilus("validate", "overlays/demo", cwd=root), "kustomization.yaml is not UTF-8 text")
    assert snapshot(root) == before


@pytest.mark.parametrize("text", ["{a: " * 10_000 + "1" + "}" * 10_000, "- " * 10_000 + "x\n"], ids=["mapping", "list"])
def test_ten_thousand_deep_file(tmp_path, text):
    (tmp_path / "deep.yaml").write_text(text)
    refused(nautilus("validate", tmp_path / "deep.yaml"), "deep.yaml nests deeper than 64 levels")


def test_ten_thousand_deep_train_yaml_in_an_overlay_is_a_finding(tmp_path):
    root = project(tmp_path)
    (root / "overlays/demo/train.yaml").write_text("dataset: " + "[" * 10_000 + "]" * 10_000 + "\n")
    run = nautilus("validate", "overlays/demo", cwd=root)
    assert (run.code, "Traceback" in run.err) == (1, False), run.err
    assert "train-config: train.yaml nests deeper than 64 levels" in run.out


def test_nul_byte_in_yaml(tmp_path):
    (tmp_path / "pod.yaml").write_text(pod().replace("name: p\n", "name: p\x00q\n"))
    refused(nautilus("validate", tmp_path / "pod.yaml"), r"character '\x00' at position", "is not allowed")


@pytest.mark.parametrize("option, value", [("--memory", "1e400"), ("--storage", "1e999999999"), ("--cpu", "1e-400")])
def test_quantities_beyond_any_number_in_new(tmp_path, option, value):
    refused(nautilus("new", "p", "--namespace", "ns", option, value, "--output-dir", tmp_path),
            f"{option} '{value}' is beyond what Kubernetes can represent")
    assert list(tmp_path.iterdir()) == []


def test_kubernetes_version_with_a_newline():
    refused(nautilus("validate", "--kubernetes-version", "1.33.0\n", "-", stdin=pod().encode()), "is not a version")


def test_unforeseen_failure_is_one_line_with_a_debug_hint(monkeypatch, tmp_path):
    """The safety net alone: a failure no check foresaw (here planted) is one line, exit 3; NAUTILUS_DEBUG=1
    shows the traceback too, with the same exit code."""
    (tmp_path / "pod.yaml").write_text(pod())

    def crash(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(validate, "check", crash)
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "pod.yaml")])
    assert result.exit_code == 3
    assert result.stderr == (f"error: unexpected RecursionError: maximum recursion depth exceeded; rerun with "
                             f"{DEBUG_ENV}=1 for the traceback and report it\n")
    monkeypatch.setenv(DEBUG_ENV, "1")
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "pod.yaml")])
    assert result.exit_code == 3 and "Traceback" in result.stderr and "RecursionError" in result.stderr


@pytest.mark.parametrize("memory, expect", [("1e400", "inf is not a finite number"),
                                            ('"1e-400"', "'1e-400' is beyond what Kubernetes can represent"),
                                            ("lots", "'lots' is not a Kubernetes quantity")])
def test_unrepresentable_quantity_in_a_manifest_is_a_finding_in_validate_and_report(tmp_path, memory, expect):
    (tmp_path / "pod.yaml").write_text(pod(memory=memory))
    run = nautilus("validate", tmp_path / "pod.yaml")
    assert (run.code, "Traceback" in run.err) == (1, False), run.err
    assert f"quantity: spec.containers[0].resources.requests.memory: {expect}" in run.out
    report = nautilus("report", tmp_path / "pod.yaml", "--format", "json")
    assert (report.code, report.err) == (0, ""), report.err
    assert '"errors": ' in report.out
