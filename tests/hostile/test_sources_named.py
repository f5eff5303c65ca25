"""Messages name the real source: an image name that `nautilus new` derives (from TRAINER_IMAGE or the git
remote origin) and finds invalid is blamed on where it came from, not on `--image`, which was not given; a
remote whose host has capital letters (https://GitHub.com/...) is still GitHub's; `report --base` on a commit
holding an absolute symbolic link anywhere reports, never exit 3."""
import shutil
import subprocess

import pytest
from ruamel.yaml import YAML

from hostile_support import ENV, NAUTILUS, REPO, Run, project, refused

GIT = ["git", "-c", "user.name=Jane Doe", "-c", "user.email=jane@example.org"]


def fork(folder, remote: str | None):
    """A repository made from the template, its trainer code committed, origin at remote."""
    root = project(folder)
    shutil.copytree(REPO / "trainer", root / "trainer", ignore=shutil.ignore_patterns("__pycache__"))
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "fork"]):
        subprocess.run([*GIT, *args], cwd=root, check=True, capture_output=True)
    if remote:
        subprocess.run([*GIT, "remote", "add", "origin", remote], cwd=root, check=True)
    return root


def new(root, variable: str | None = None) -> Run:
    env = {key: value for key, value in ENV.items() if key != "TRAINER_IMAGE"}
    if variable is not None:
        env["TRAINER_IMAGE"] = variable
    proc = subprocess.run([*NAUTILUS, "new", "p", "--namespace", "ns"], cwd=root, env=env, capture_output=True,
                          timeout=60)
    return Run(proc.returncode, proc.stdout.decode(), proc.stderr.decode(), 0)


@pytest.mark.parametrize("remote, variable, source", [
    ("https://github.com/JaneDoe/Cells.git", "registry.example.org/lab cells/trainer", "TRAINER_IMAGE"),
    ("https://github.com/JaneDoe/Cells.git", "registry.example.org/" + "x" * 300, "TRAINER_IMAGE"),
    (None, "-lab/trainer", "TRAINER_IMAGE"),
    ("https://github.com/JaneDoe/.github", None, "the git remote origin (https://github.com/JaneDoe/.github)"),
    ("git@github.com:JaneDoe/-cells.git", None, "the git remote origin (git@github.com:JaneDoe/-cells.git)"),
    ("https://jane:ghp_secret@github.com/JaneDoe/.github", None,
     "the git remote origin (https://github.com/JaneDoe/.github)"),
], ids=["variable-space", "variable-long", "variable-dash", "remote-dot", "remote-dash", "remote-token"])
def test_an_invalid_derived_image_name_is_blamed_on_its_source(tmp_path, remote, variable, source):
    root = fork(tmp_path, remote)
    line = refused(new(root, variable), source)
    what, _, fix = line.partition("; ")
    assert "--image" not in what and "--image" in fix and "ghp_secret" not in line, line
    assert not (root / "overlays/p").exists()


@pytest.mark.parametrize("remote", ["https://GitHub.com/JaneDoe/Cells.git", "HTTPS://GITHUB.COM/JaneDoe/Cells",
                                    "git@GitHub.com:JaneDoe/Cells.git", "ssh://git@Github.Com/JaneDoe/Cells"])
def test_a_github_remote_with_capital_letters_in_the_host_is_recognised(tmp_path, remote):
    root = fork(tmp_path, remote)
    run = new(root)
    assert run.code == 0 and "warning" not in run.err, run.err
    image = YAML(typ="safe").load((root / "overlays/p/kustomization.yaml").read_text())["images"][0]
    assert image["newName"] == "ghcr.io/janedoe/cells/trainer" and image["newTag"].startswith("src-")


@pytest.mark.parametrize("link, target", [
    ("tools/python", "/usr/bin/env"), ("overlays/demo/notes", "/usr/bin/env"), ("base/elsewhere", "/etc"),
    ("tools/up", "../../../../../../etc/passwd"),
], ids=["absolute", "absolute-in-overlay", "absolute-in-base", "out-of-tree"])
def test_report_base_on_a_commit_holding_a_link_out_of_the_tree(tmp_path, link, target):
    root = fork(tmp_path, None)
    (root / link).parent.mkdir(parents=True, exist_ok=True)
    (root / link).symlink_to(target)
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-qm", "a link"], cwd=root, check=True)
    with open(root / "overlays/demo/kustomization.yaml", "a") as handle:   # changed since: rendered at the base
        handle.write("# changed\n")
    proc = subprocess.run([*NAUTILUS, "report", "overlays/demo", "--base", "HEAD"], cwd=root, env=ENV,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
    assert "unexpected" not in proc.stderr


def test_report_base_where_the_overlay_read_a_file_through_an_absolute_link_is_one_line(tmp_path):
    """The link is left out of the base's tree, so the base cannot render: one line, exit 2."""
    root = fork(tmp_path, None)
    train = root / "overlays/demo/train.yaml"
    kept = tmp_path / "train.yaml"
    shutil.move(train, kept)
    train.symlink_to(kept)
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-qm", "train.yaml through a link"], cwd=root, check=True)
    train.unlink()
    shutil.copy(kept, train)
    proc = subprocess.run([*NAUTILUS, "report", "overlays/demo", "--base", "HEAD"], cwd=root, env=ENV,
                          capture_output=True, text=True, timeout=120)
    refused(Run(proc.returncode, proc.stdout, proc.stderr, 0), "train.yaml")
