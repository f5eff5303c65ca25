"""Class 1, hangs and blow-ups: every input `nautilus` reads is bounded in size, expansion and time.
Each refusal is one error line, exit 2, within seconds; nothing is written."""
import os
import socket
import threading

import pytest

from hostile_support import nautilus, pod, project, refused, snapshot
from test_safe_yaml import bomb


def test_alias_bomb_inside_a_container_command_is_refused_at_once(tmp_path):
    (tmp_path / "pod.yaml").write_text(pod(command="[sh, -c, {" + bomb().replace("\n", ", ") + "}]"))
    before = snapshot(tmp_path)
    refused(nautilus("validate", tmp_path / "pod.yaml"), "expands to more than 100,000 YAML nodes", within=10)
    assert snapshot(tmp_path) == before


def test_alias_bomb_inside_a_configmaps_train_yaml_is_a_finding_not_a_hang(tmp_path):
    config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: ns}\ndata:\n  train.yaml: |\n"
    (tmp_path / "cm.yaml").write_text(config + "".join(f"    {line}\n" for line in bomb().splitlines()))
    run = nautilus("validate", tmp_path / "cm.yaml")
    assert (run.code, "Traceback" in run.err) == (1, False)
    assert "ConfigMap/c: train-config: train.yaml expands to more than 100,000 YAML nodes" in run.out
    assert run.seconds < 10


@pytest.mark.parametrize("make, expect", [
    (lambda d: "/dev/zero", "/dev/zero is not a regular file"),
    (lambda d: os.mkfifo(d / "fifo") or d / "fifo", "fifo is not a regular file"),
    (lambda d: (d / "big.yaml").write_bytes(b"# padding\n" * 900_000) and d / "big.yaml", "larger than 8 MiB"),
    (lambda d: os.symlink("loop", d / "loop") or d / "loop", "does not exist"),
], ids=["dev-zero", "fifo", "9-MiB-file", "symlink-loop"])
def test_devices_fifos_huge_files_and_loops_are_refused_without_reading_them(tmp_path, make, expect):
    refused(nautilus("validate", make(tmp_path)), expect, within=10)


def test_stdin_is_read_up_to_the_bound_only():
    refused(nautilus("validate", "-", stdin=b"\0" * (9 * 2**20)), "- is larger than 8 MiB", within=10)


def test_kustomization_that_refers_to_itself_through_a_folder_loop_ends(tmp_path):
    root = project(tmp_path)
    overlay = root / "overlays/demo"
    os.symlink(".", overlay / "again")
    text = (overlay / "kustomization.yaml").read_text()
    (overlay / "kustomization.yaml").write_text(text.replace("  - ../../base\n", "  - ../../base\n  - again\n"))
    before = snapshot(root)
    refused(nautilus("validate", "overlays/demo", cwd=root), "kustomize could not render overlays/demo", within=20)
    assert snapshot(root) == before


def test_kustomize_waiting_on_a_silent_server_is_stopped_at_the_time_limit(tmp_path):
    """A remote resource (allowed explicitly) on a server that accepts and never answers: kustomize is stopped
    at policy.yaml's render_seconds (2 here), its process group with it."""
    root = project(tmp_path, render_seconds=2)
    silent = socket.create_server(("127.0.0.1", 0))
    accepted = []
    threading.Thread(target=lambda: accepted.append(silent.accept()), daemon=True).start()
    overlay = root / "overlays/demo/kustomization.yaml"
    overlay.write_text(overlay.read_text().replace(
        "  - ../../base\n", f"  - ../../base\n  - http://127.0.0.1:{silent.getsockname()[1]}/pod.yaml\n"))
    try:
        run = nautilus("validate", "--allow-remote", "overlays/demo", cwd=root)
    finally:
        silent.close()
    refused(run, "kustomize build overlays/demo ran longer than 2 s", within=10)
    assert run.seconds >= 2 and accepted


def test_kustomize_output_beyond_the_bound_is_cut_off(tmp_path):
    root = project(tmp_path)
    overlay = root / "overlays/demo"
    (overlay / "blob.txt").write_text("x" * (9 * 2**20))
    text = (overlay / "kustomization.yaml").read_text()
    (overlay / "kustomization.yaml").write_text(text.replace("      - train.yaml\n", "      - train.yaml\n      - blob.txt\n"))
    refused(nautilus("build", "overlays/demo", cwd=root), "printed more than 8 MiB", within=20)


@pytest.mark.parametrize("text", ["[" * 10_000 + "]" * 10_000, "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 200))],
                         ids=["10000-deep-list", "200-deep-mapping"])
def test_deep_documents_on_stdin_are_refused(text):
    refused(nautilus("validate", "-", stdin=text.encode()), "nests deeper than 64 levels", within=10)


def test_a_megabyte_long_quantity_is_one_short_finding_at_once(tmp_path):
    (tmp_path / "pod.yaml").write_text(pod(memory='"1e' + "0" * 1_000_000 + 'x"'))
    run = nautilus("validate", tmp_path / "pod.yaml")
    assert (run.code, "Traceback" in run.err) == (1, False)
    assert "quantity: spec.containers[0].resources.limits.memory: '1e000" in run.out
    assert max(len(line) for line in run.out.splitlines()) < 400
    assert run.seconds < 10
