"""Only our own temporaries: `nautilus new` and `init` stage their folders under a reserved name
(`.nautilus-tmp-<random>`, named by the replacement journal) and remove only what a journal or the marker
written first into a staging folder says is theirs. A user's hidden folder that looks like a temporary is
never touched; a NAME.results (or base) that is a file, a link or a FIFO is refused in one line, not left behind
under another name."""
import os
import subprocess

import pytest

from hostile_support import ENV, NAUTILUS, nautilus, project, refused, snapshot
from test_kills import killed_at, leftovers, new, pair

USERS = (".myproject.old-20240601", ".p.new-abcd1234", ".p.results.old-x1y2z3w4", ".nautilus-tmp-abcd1234",
         ".nautilus-tmp-notes")


def users_folders(overlays) -> None:
    for name in USERS:
        (overlays / name).mkdir()
        (overlays / name / "notes.txt").write_text(f"the user's own {name}\n")
    (overlays / ".nautilus-tmp-zzzz9999").mkdir()   # the marker names another run: not this folder's
    (overlays / ".nautilus-tmp-zzzz9999/.nautilus-staged").write_text("abcd1234")
    (overlays / ".nautilus-tmp-zzzz9999/notes.txt").write_text("kept\n")


@pytest.mark.parametrize("force", [False, True])
def test_a_users_hidden_folders_that_look_like_temporaries_are_kept(tmp_path, force):
    root = project(tmp_path)
    overlays = root / "overlays"
    users_folders(overlays)
    before = {name: snapshot(overlays / name) for name in (*USERS, ".nautilus-tmp-zzzz9999")}
    if force:
        assert nautilus(*new("v1", "--dev-pod")[1:], cwd=root).code == 0
    assert nautilus(*new("v2", "--dev-pod")[1:], cwd=root).code == 0
    assert {name: snapshot(overlays / name) for name in before} == before
    assert leftovers(root) == sorted(before)


def test_a_run_killed_at_every_mkdir_leaves_nothing_after_the_next_run(tmp_path):
    """Killed before its journal exists, while it stages: the next run removes the staging folder (it holds
    the marker, or nothing yet) and keeps the user's look-alikes."""
    root = project(tmp_path)
    users_folders(root / "overlays")
    kept = sorted((*USERS, ".nautilus-tmp-zzzz9999"))
    kills = 0
    for n in range(1, 12):
        if not killed_at(root, "mkdir", n, new("v1", "--dev-pod")):
            break
        kills += 1
        assert subprocess.run(new("v9", name="other"), cwd=root, env=ENV).returncode == 0
        overlay, dev = pair(root)
        assert (overlay is None) == (dev is None), f"a kill at mkdir {n} left one of the pair"
        assert leftovers(root) == kept, f"a kill at mkdir {n}"
    assert kills >= 3


def test_a_staging_folder_with_its_marker_or_empty_is_removed(tmp_path):
    root = project(tmp_path)
    overlays = root / "overlays"
    staged = overlays / ".nautilus-tmp-k1ll3d_0"
    (staged / "new/p").mkdir(parents=True)
    (staged / ".nautilus-staged").write_text("k1ll3d_0")
    (staged / "new/p/kustomization.yaml").write_text("resources: []\n")
    (overlays / ".nautilus-tmp-3mpty_00").mkdir()
    (overlays / ".nautilus-replace.tmp").write_text("{")
    assert nautilus(*new("v1")[1:], cwd=root).code == 0
    assert leftovers(root) == []


WORDS = {"file": "file", "symlink": "symbolic link", "fifo": "FIFO"}


@pytest.mark.parametrize("kind", list(WORDS))
def test_force_over_a_results_that_is_not_a_folder_is_refused(tmp_path, kind):
    root = project(tmp_path)
    overlays = root / "overlays"
    assert nautilus(*new("v1")[1:], cwd=root).code == 0
    results = overlays / "p.results"
    for path in sorted(results.iterdir()):
        path.unlink()
    results.rmdir()
    if kind == "file":
        results.write_text("my notes\n")
    elif kind == "symlink":
        (tmp_path / "elsewhere").mkdir()
        results.symlink_to(tmp_path / "elsewhere")
    else:
        os.mkfifo(results)
    before = snapshot(overlays)
    refused(nautilus(*new("v2")[1:], cwd=root), f"{results} is a {WORDS[kind]}, not a folder",
            "move it out of the way")
    assert snapshot(overlays) == before and leftovers(root) == []


def test_init_force_over_a_base_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "repo"
    target.mkdir()
    (target / "base").write_text("my notes\n")
    run = nautilus("init", target, "--force", cwd=project(tmp_path / "template"))
    refused(run, f"{target / 'base'} is a file, not a folder")
    assert (target / "base").read_text() == "my notes\n"
    assert sorted(p.name for p in target.iterdir()) == ["base"]
