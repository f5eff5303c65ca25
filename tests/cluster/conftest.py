"""Fixtures for tests against a real control plane with simulated NRP nodes (see controlplane.py)."""
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from generator.deploy.kube import Kube

from .controlplane import SHARED, TEST_NAMESPACE_PREFIX, ControlPlane, missing_binaries
from .overlays import GENERATED, Overlay


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    # Never skip: `make test` builds the binaries first, so their absence is a broken set-up.
    missing = missing_binaries()
    if missing:
        pytest.fail(f"control-plane binaries missing from .tools/bin: {', '.join(missing)}; run `make cluster-tools`")
    if os.environ.get(SHARED):
        plane = ControlPlane.attached(Path(os.environ[SHARED]))
        plane.delete_test_namespaces()  # an earlier run killed before its teardown left them
    else:
        plane = ControlPlane(tmp_path_factory.mktemp("controlplane")).start()
    yield plane
    plane.stop()


@pytest.fixture
def namespace(cluster):
    """A fresh namespace that enforces Pod Security "restricted", as the conventions promise."""
    name = f"{TEST_NAMESPACE_PREFIX}{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture
def kube(cluster, namespace, monkeypatch) -> Kube:
    """generator/deploy's kubectl wrapper acting in the test's namespace as the cluster admin."""
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    return Kube(namespace)


@pytest.fixture(scope="session")
def generated_overlays(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("generated")
    nautilus = Path(sys.executable).with_name("nautilus")
    for name, args in GENERATED.items():
        proc = subprocess.run([str(nautilus), "new", name, *args, "--output-dir", str(folder)], capture_output=True, text=True)
        assert proc.returncode == 0, f"nautilus new {name} failed:\n{proc.stderr}"
    return {name: folder / name for name in GENERATED}


@pytest.fixture
def generated_overlay(generated_overlays) -> Path:
    return generated_overlays["generated"]


@pytest.fixture
def open_overlay(cluster, namespace):
    """open_overlay(path) -> Overlay with its namespace and volumes in place; deleted after the test."""
    opened = []

    def open_(path: Path) -> Overlay:
        overlay = Overlay(cluster, path, namespace)
        overlay.prepare()
        opened.append(overlay)
        return overlay
    yield open_
    for overlay in reversed(opened):
        overlay.delete()
