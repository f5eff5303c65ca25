"""The trainer image a repository publishes (generator/core/published_image.py): `nautilus new` writes it, validation warns
when an overlay names this repository's image with other trainer code. tests/test_workflows.py checks that
.github/workflows/image.yml computes the same."""
import subprocess

import pytest
from ruamel.yaml import YAML

from generator.core import published_image as published
from kube_support import REPO, examples, git, make_fork, nautilus, run_name

TEMPLATE_IMAGE = YAML(typ="safe").load((REPO / "generator/scaffold/defaults.yaml").read_text())["image"]


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.delenv(published.VARIABLE, raising=False)
    published._current.cache_clear()  # one CLI run asks once; these tests change the repository between runs
    yield
    published._current.cache_clear()


def written_image(overlay) -> str:
    entry = YAML(typ="safe").load((overlay / "kustomization.yaml").read_text())["images"][0]
    return f"{entry['newName']}:{entry['newTag']}"


@pytest.mark.parametrize("url, name", [
    ("https://github.com/JaneDoe/Cells.git", "ghcr.io/janedoe/cells/trainer"),
    ("https://github.com/JaneDoe/Cells", "ghcr.io/janedoe/cells/trainer"),
    ("git@github.com:JaneDoe/Cells.git", "ghcr.io/janedoe/cells/trainer"),
    ("ssh://git@github.com/Lab-X/My.Repo.git", "ghcr.io/lab-x/my.repo/trainer"),
    ("https://token@github.com/nautilus-ml/nautilus-ml-template/", "ghcr.io/nautilus-ml/nautilus-ml-template/trainer"),
    ("https://GitHub.com/JaneDoe/Cells.git", "ghcr.io/janedoe/cells/trainer"),   # scheme and host in any case
    ("HTTPS://GITHUB.COM/JaneDoe/Cells", "ghcr.io/janedoe/cells/trainer"),
    ("https://github.com/Jäne/Cells", None),                                     # not a GitHub name
    ("https://gitlab.nrp-nautilus.io/group/project.git", None),
    ("/srv/git/cells", None),
])
def test_name_from_remote(url, name):
    assert published.name_from_remote(url) == name


def test_new_in_a_fork_writes_the_forks_image_of_its_trainer_code(tmp_path, monkeypatch):
    fork = make_fork(tmp_path / "cells", "git@github.com:JaneDoe/Cells.git")
    monkeypatch.chdir(fork)
    result = nautilus("new", "myproject", "--namespace", "ns", "--dev-pod")
    assert result.exit_code == 0 and "warning" not in result.output, result.output
    image = written_image(fork / "overlays/myproject")
    assert image == f"ghcr.io/janedoe/cells/trainer:{published.tag(fork)}"
    assert image.rpartition(":")[2].startswith("src-") and len(image.rpartition(":")[2]) == 16

    (fork / "trainer/README.md").write_text("changed, not committed\n")  # the tag follows the committed code
    assert published.tag(fork) == image.rpartition(":")[2]
    git(fork, "commit", "-qam", "trainer change")
    assert published.tag(fork) != image.rpartition(":")[2]
    git(fork, "revert", "--no-edit", "HEAD")  # the same code again: the same tag
    assert published.tag(fork) == image.rpartition(":")[2]


def test_new_with_image_or_trainer_image_variable(tmp_path, monkeypatch):
    fork = make_fork(tmp_path / "cells", "https://github.com/JaneDoe/Cells")
    monkeypatch.chdir(fork)
    assert nautilus("new", "a", "--namespace", "ns", "--image", "registry.example/x/trainer:v2").exit_code == 0
    assert written_image(fork / "overlays/a") == "registry.example/x/trainer:v2"
    monkeypatch.setenv(published.VARIABLE, "gitlab-registry.nrp-nautilus.io/Lab/Cells/trainer")
    assert nautilus("new", "b", "--namespace", "ns").exit_code == 0
    assert written_image(fork / "overlays/b") == f"gitlab-registry.nrp-nautilus.io/lab/cells/trainer:{published.tag(fork)}"


@pytest.mark.parametrize("remote", [None, "https://gitlab.com/jane/cells.git"])
def test_new_without_a_github_remote_uses_the_template_image_and_says_so(tmp_path, monkeypatch, remote):
    fork = make_fork(tmp_path / "cells", remote)
    monkeypatch.chdir(fork)
    result = nautilus("new", "p", "--namespace", "ns")
    assert result.exit_code == 0
    warnings = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and TEMPLATE_IMAGE in warnings[0] and "--image" in warnings[0]
    assert written_image(fork / "overlays/p") == TEMPLATE_IMAGE


def test_validation_warns_when_the_overlay_runs_other_trainer_code(tmp_path, monkeypatch):
    fork = make_fork(tmp_path / "cells", "https://github.com/JaneDoe/Cells.git")
    monkeypatch.chdir(fork)
    assert nautilus("new", "p", "--namespace", "ns").exit_code == 0
    git(fork, "add", "-A")
    git(fork, "commit", "-qm", "overlay p")
    clean = nautilus("validate", "--all")  # the examples name the template's image: not compared
    assert clean.exit_code == 0 and "0 error(s), 0 warning(s)" in clean.output, clean.output
    assert all((fork / "overlays" / name).is_dir() for name in examples())

    (fork / "trainer/README.md").write_text("newer trainer code\n")
    git(fork, "commit", "-qam", "trainer change")
    published._current.cache_clear()
    stale = nautilus("validate", "overlays/p")
    assert stale.exit_code == 0, stale.output  # a warning: reported, CI stays green
    lines = [line for line in stale.output.splitlines() if ": image-published: " in line]
    assert lines and all(f"ghcr.io/janedoe/cells/trainer:{published.tag(fork)}" in line for line in lines)
    assert {run_name(line.split(": ")[1]) for line in lines} == {"Job/p-data", "Job/p-train"}

    current = f"ghcr.io/janedoe/cells/trainer:{published.tag(fork)}"
    assert all("`cd overlays/<project> && kustomize edit set image trainer=<the image named>`" in line for line in lines)
    train_yaml = (fork / "overlays/p/train.yaml").read_bytes()
    subprocess.run([str(REPO / ".tools/bin/kustomize"), "edit", "set", "image", f"trainer={current}"],  # the fix it names
                   cwd=fork / "overlays/p", check=True)
    assert "0 warning(s)" in nautilus("validate", "overlays/p").output
    assert (fork / "overlays/p/train.yaml").read_bytes() == train_yaml  # nothing else changed


def test_a_release_tag_of_the_current_code_counts(tmp_path, monkeypatch):
    fork = make_fork(tmp_path / "cells", "https://github.com/JaneDoe/Cells.git")
    monkeypatch.chdir(fork)
    git(fork, "tag", "v1.0.0")
    released = "ghcr.io/janedoe/cells/trainer:v1.0.0"
    assert published.is_current(fork, released) is True
    assert published.is_current(fork, "ghcr.io/janedoe/cells/trainer:v9.9.9") is False
    assert published.is_current(fork, "ghcr.io/someone/else/trainer:v1.0.0") is None
    assert published.is_current(fork, "ghcr.io/janedoe/cells/trainer@sha256:" + "0" * 64) is None
    (fork / "trainer/README.md").write_text("after the release\n")
    git(fork, "commit", "-qam", "trainer change")
    published._current.cache_clear()
    assert published.is_current(fork, released) is False


SAID = "uncommitted changes in the trainer's code"


def test_uncommitted_trainer_changes_are_said_by_new_and_validate(tmp_path, monkeypatch):
    """The content tag is the last commit's: `new` and `validate` say when trainer/ holds changes it lacks."""
    fork = make_fork(tmp_path / "cells", "https://github.com/JaneDoe/Cells.git")
    monkeypatch.chdir(fork)
    assert nautilus("new", "p", "--namespace", "ns").output.count(SAID) == 0
    (fork / "trainer" / "train.py").write_text((fork / "trainer" / "train.py").read_text() + "# faster\n")
    (fork / "trainer" / "new_module.py").write_text("x = 1\n")
    said = []
    for args in (["new", "q", "--namespace", "ns"], ["validate", "overlays/p"]):
        result = nautilus(*args)
        assert result.exit_code == 0, result.output
        said += [line for line in result.output.splitlines() if SAID in line]
    assert len(said) == 2 and all(line.startswith("warning: ") and "trainer/train.py" in line
                                  and "trainer/new_module.py" in line and published.tag(fork) in line for line in said), said
    assert SAID not in nautilus("new", "r", "--namespace", "ns", "--image", "ghcr.io/x/y/trainer:v1").output
    git(fork, "add", "-A")
    git(fork, "commit", "-qm", "trainer change")
    published._current.cache_clear()
    assert SAID not in nautilus("validate", "overlays/p").output
