"""generator/render/changes.py: the one answer to "what changed since a ref", as report --base and the GitOps
workflows ask it."""
import sys
from pathlib import Path

import pytest

from generator.render.changes import changed_overlays, since
from trainer.errors import UsageError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.report import change_base, change_last_overlay, git, lab  # noqa: E402


@pytest.fixture
def four(tmp_path, monkeypatch):
    overlays = lab(tmp_path, 4)
    monkeypatch.chdir(tmp_path)
    return tmp_path, overlays


def test_nothing_changed_reaches_nothing(four):
    assert changed_overlays("HEAD") == []


def test_one_overlay_changed_reaches_that_overlay(four):
    root, overlays = four
    change_last_overlay(root, overlays)
    assert changed_overlays("HEAD") == [Path("overlays/p003")]
    git(root, "commit", "-qam", "p003 asks for 2 GPUs")
    assert changed_overlays("HEAD~1") == [Path("overlays/p003")] and changed_overlays("HEAD") == []


def test_the_shared_base_reaches_every_overlay_and_a_removed_one_is_named(four):
    root, overlays = four
    change_base(root, overlays)
    (overlays[1] / "kustomization.yaml").unlink()
    assert changed_overlays("HEAD") == [Path(f"overlays/p00{i}") for i in (0, 2, 3)] + [Path("overlays/p001")]
    changes = since("HEAD")
    assert changes.removed() == [Path("overlays/p001")]


def test_unknown_inputs_count_as_changed_and_a_bad_ref_is_a_usage_error(four):
    root, overlays = four
    (overlays[0] / "kustomization.yaml").write_text("resources: [\n")  # cannot be read: unknown
    assert since("HEAD").affects(overlays[0]) and not since("HEAD").affects(overlays[2])
    with pytest.raises(UsageError, match="is not a commit"):
        since("no-such-ref")
