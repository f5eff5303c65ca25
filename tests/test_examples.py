"""A fork's report and `validate --all` are about the fork: the template's examples (overlays/examples.yaml) stay
out of the totals and their notes out of the listing, each said in one line, until `nautilus examples remove`."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kube_support import git, make_fork, nautilus, working_copy

EXAMPLE = ["demo", "--namespace", "gp-engine-lab", "--gpus", "2", "--dev-pod"]  # the fork's examples: this test's own,
EXAMPLE_FOLDERS = ["overlays/demo", "overlays/demo.dev", "overlays/demo.results"]  # whatever the template ships


@pytest.fixture
def fork(tmp_path, monkeypatch):
    """A fork with its own overlay beside an example that overlays/examples.yaml lists."""
    folder = make_fork(tmp_path / "cells", "https://github.com/JaneDoe/Cells-Lab.git")
    monkeypatch.chdir(folder)
    for folder_name in [p for p in (folder / "overlays").iterdir() if p.is_dir()]:
        shutil.rmtree(folder_name)
    (folder / "overlays" / "examples.yaml").write_text(f"demo: {json.dumps(EXAMPLE)}\n")
    for args in (EXAMPLE, ["cells", "--namespace", "gp-engine-jane", "--gpus", "1"]):  # any GPU: each gets a note
        result = nautilus("new", *args)
        assert result.exit_code == 0, result.output
    return folder


def _report(*args) -> dict:
    result = nautilus("report", "--all", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_the_report_totals_the_forks_own_overlays_and_says_so(fork):
    data = _report()
    assert data["totals"]["after"]["GPUs at once"] == "1"  # the fork's one GPU; the example asks for 3 more
    assert data["examples_left_out"] == EXAMPLE_FOLDERS
    markdown = nautilus("report", "--all").output
    notes = [line for line in markdown.splitlines() if "example overlay" in line]
    assert len(notes) == 1 and "`nautilus examples remove`" in notes[0], notes


def test_validate_all_leaves_out_the_examples_notes_in_one_line(fork):
    result = nautilus("validate", "--all")
    assert result.exit_code == 0, result.output
    shown = [line for line in result.output.splitlines() if ": note: " in line]
    assert shown and all(line.startswith("overlays/cells") for line in shown), shown
    assert sum("note(s) on the template's example overlays" in line for line in result.output.splitlines()) == 1


def test_one_command_removes_the_examples(fork):
    result = nautilus("examples", "remove")
    assert result.exit_code == 0, result.output
    assert not any((fork / name).exists() for name in EXAMPLE_FOLDERS)
    assert not (fork / "overlays" / "examples.yaml").exists() and (fork / "overlays" / "cells").is_dir()
    assert "git add -A overlays && git commit" in result.output
    data = _report()
    assert data["examples_left_out"] == [] and [o["source"] for o in data["overlays"]] == ["overlays/cells", "overlays/cells.results"]
    assert "example overlay" not in nautilus("validate", "--all").output
    assert nautilus("examples", "remove").output.strip() == "no example overlays to remove"


def test_an_edited_example_is_kept_unless_discarded(fork):
    edited = fork / "overlays" / "demo" / "train.yaml"
    edited.write_text(edited.read_text() + "# mine\n")
    result = nautilus("examples", "remove")
    assert result.exit_code == 2 and result.output.startswith("error: example overlays edited since nautilus wrote them: ")
    assert "overlays/demo (train.yaml)" in result.output and len(result.output.strip().splitlines()) == 1
    assert edited.exists()
    assert nautilus("examples", "remove", "--discard-edits").exit_code == 0
    copies = list((fork / "overlays" / ".discarded").glob("demo-*/train.yaml"))
    assert not edited.exists() and len(copies) == 1 and copies[0].read_text().endswith("# mine\n")
    assert git(fork, "status", "--porcelain", "--", "overlays/.discarded") == ""  # git ignores the copies


def test_overlays_stays_in_git_when_the_examples_were_all_there_was(fork):
    shutil.rmtree(fork / "overlays" / "cells")
    shutil.rmtree(fork / "overlays" / "cells.results")
    assert nautilus("examples", "remove").exit_code == 0
    git(fork, "add", "-A")
    git(fork, "commit", "-qm", "no examples")
    assert "overlays/.gitkeep" in git(fork, "ls-files", "overlays")  # a clone still has overlays/ for `nautilus new`


def test_the_recipe_moves_to_tests_which_rebuild_the_examples_from_it(fork):
    (fork / "tests").mkdir()
    recipe = (fork / "overlays" / "examples.yaml").read_text()
    result = nautilus("examples", "remove")
    assert result.exit_code == 0, result.output
    assert (fork / "tests" / "examples.yaml").read_text() == recipe and not (fork / "overlays" / "examples.yaml").exists()
    assert "git add -A overlays tests && git commit" in result.output


EXAMPLE_TESTS = ["tests/test_docs.py", "tests/test_overlays.py", "tests/test_bases.py"]  # the docs, the examples, the bases


def test_the_tests_of_the_examples_pass_once_they_are_removed(tmp_path):
    """A fork that ran `nautilus examples remove` keeps passing `make test`: the tests rebuild the examples from
    tests/examples.yaml in a temporary copy, so they check the same files."""
    fork = working_copy(tmp_path / "fork")
    git(fork, "init", "-q", "-b", "main")
    git(fork, "add", "-A")
    git(fork, "commit", "-q", "-m", "fork")
    env = {**os.environ, "PYTHONPATH": str(fork)}
    removed = subprocess.run([str(Path(sys.executable).with_name("nautilus")), "examples", "remove"], cwd=fork, env=env,
                             capture_output=True, text=True, timeout=60)
    assert removed.returncode == 0, removed.stderr
    assert (fork / "tests" / "examples.yaml").is_file() and {p.name for p in (fork / "overlays").iterdir()} == {".gitkeep"}
    git(fork, "add", "-A")
    git(fork, "commit", "-q", "-m", "Remove the template's example overlays")
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *EXAMPLE_TESTS], cwd=fork,
                           env=env, capture_output=True, text=True, timeout=600)
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
