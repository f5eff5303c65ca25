"""The oldest supported kustomize renders every overlay exactly like the pinned one.

kubectl 1.27 (the oldest the docs support) embeds kustomize v5.0.1; `make oldest-tools` installs that
version beside the pinned one as .tools/bin/kustomize-v5.0.1. Byte-identical output means an overlay
applied with `kubectl apply -k` from kubectl 1.27 or newer is the overlay that was validated.
"""
import subprocess

import pytest

from kube_support import REPO, example_folders, nautilus

TOOLS = REPO / ".tools"
OLDEST = "v5.0.1"
COMMITTED = example_folders()
# Components and patches the committed examples do not use, as `nautilus new` writes them.
VARIANTS = {
    "cpu": ["--gpus", "0"],
    "a100": ["--gpus", "2", "--gpu-resource", "nvidia.com/a100", "--gpu-quota", "A100 form", "--dev-pod"],
    "h100": ["--gpu-resource", "nvidia.com/h100", "--priority-class", "opportunistic", "--dev-pod"],
}


def kustomize(binary: str, overlay) -> str:
    proc = subprocess.run([str(TOOLS / "bin" / binary), "build", str(overlay)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"{binary} build {overlay}: {proc.stderr}"
    return proc.stdout


def test_the_oldest_kustomize_is_installed_at_its_version():
    assert (TOOLS / "versions" / f"kustomize-{OLDEST}").read_text().strip() == OLDEST, "run `make oldest-tools`"


@pytest.mark.parametrize("overlay", [*COMMITTED, REPO / "tests/e2e"], ids=lambda p: p.name)
def test_committed_overlay_renders_alike(overlay):
    assert kustomize(f"kustomize-{OLDEST}", overlay) == kustomize("kustomize", overlay)


def test_generated_variants_render_alike(tmp_path):
    for name, args in VARIANTS.items():
        assert nautilus("new", name, "--namespace", "ns", *args, "--output-dir", tmp_path).exit_code == 0
    folders = sorted(tmp_path.iterdir())
    assert len(folders) == 2 * len(VARIANTS) + 2  # each with .results, two with .dev
    for folder in folders:
        assert kustomize(f"kustomize-{OLDEST}", folder) == kustomize("kustomize", folder), folder.name
