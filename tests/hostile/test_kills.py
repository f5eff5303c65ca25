"""Class 5, kills: `nautilus new --force` and `init --force` killed by a real SIGKILL at each rename and
removal (strace injects it into the syscall) never leave an overlay missing or half-written; the folders one
command writes (an overlay and its .dev) are the old pair or, once the next run has finished the journal, the
new pair; the staging folders of a killed run (`.nautilus-tmp-<random>`, marked) are removed by the next run."""
import shutil
import subprocess

import pytest

from hostile_support import ENV, NAUTILUS, nautilus, project, snapshot

# syscall -> the least number of its calls a replacement makes: the atomic exchanges; the journal's commit
# (and fresh folders); the journal's and the marker's removal; the replaced folders' files and folders removed
SYSCALLS = {"renameat2": 2, "rename": 1, "unlink": 2, "unlinkat": 2, "rmdir": 2}


def new(image: str, *extra: str, name: str = "p") -> list[str]:
    return [*NAUTILUS, "new", name, "--namespace", "ns", "--image", f"ghcr.io/lab/trainer:{image}", "--force", *extra]


def killed_at(root, syscall: str, n: int, command: list[str]) -> bool:
    """Run command with SIGKILL injected at the n-th call of syscall; True when it was killed."""
    assert shutil.which("strace"), "strace is missing: run `make packages`"
    proc = subprocess.run(["strace", "-f", "-o", "/dev/null", "-e", f"trace={syscall}",
                           "-e", f"inject={syscall}:signal=SIGKILL:when={n}", *command],
                          cwd=root, env=ENV, capture_output=True, timeout=120)
    assert b"Traceback" not in proc.stderr
    return proc.returncode != 0


def pair(root) -> tuple:
    overlays = root / "overlays"
    return tuple(snapshot(overlays / name) if (overlays / name).exists() else None for name in ("p", "p.dev"))


def leftovers(root) -> list[str]:
    return sorted(p.name for p in (root / "overlays").iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("syscall", list(SYSCALLS))
def test_replacing_an_overlay_and_its_dev_pair_killed_at_every_rename(tmp_path, syscall):
    root = project(tmp_path)
    assert nautilus(*new("v1", "--dev-pod")[1:], cwd=root).code == 0
    old = pair(root)
    assert subprocess.run(new("v2", "--dev-pod"), cwd=root, env=ENV).returncode == 0
    fresh = pair(root)
    assert fresh != old
    assert subprocess.run(new("v1", "--dev-pod"), cwd=root, env=ENV).returncode == 0
    kills = 0
    for n in range(1, 20):
        if not killed_at(root, syscall, n, new("v2", "--dev-pod")):
            break
        kills += 1
        overlay, dev = pair(root)
        assert overlay in (old[0], fresh[0]) and dev in (old[1], fresh[1])   # never missing, never half-written
        # the next run (here: another overlay in the same folder) finishes or drops the killed one
        assert subprocess.run(new("v9", name="other"), cwd=root, env=ENV).returncode == 0
        assert pair(root) in (old, fresh) and leftovers(root) == []
        shutil.rmtree(root / "overlays/other")
        assert subprocess.run(new("v1", "--dev-pod"), cwd=root, env=ENV).returncode == 0
    assert kills >= SYSCALLS[syscall] and pair(root) == fresh and leftovers(root) == []


def test_fresh_pair_killed_midway_appears_whole_after_the_next_run(tmp_path):
    root = project(tmp_path)
    for n in range(1, 20):
        shutil.rmtree(root / "overlays", ignore_errors=True)
        (root / "overlays").mkdir()
        if not killed_at(root, "rename", n, new("v1", "--dev-pod")):
            break
        assert subprocess.run(new("v1", name="other"), cwd=root, env=ENV).returncode == 0
        overlay, dev = pair(root)
        assert (overlay is None) == (dev is None), f"kill at rename {n} left one of the pair"
        assert leftovers(root) == []
    assert n > 2


def test_init_force_killed_never_leaves_the_bases_missing(tmp_path):
    target = tmp_path / "repo"
    target.mkdir()
    command = [*NAUTILUS, "init", str(target), "--force"]
    assert subprocess.run(command, cwd=project(tmp_path / "template"), env=ENV).returncode == 0
    bases = snapshot(target / "base")
    for n in range(1, 10):
        if not killed_at(tmp_path / "template", "renameat2", n, command):
            break
        assert snapshot(target / "base") == bases
    assert n > 1


def test_staging_folders_of_killed_runs_are_removed_by_the_next_run(tmp_path):
    root = project(tmp_path)
    for token in ("abcd1234", "x1y2z3w4", "00000000"):
        staged = root / "overlays" / f".nautilus-tmp-{token}"
        (staged / "new/p").mkdir(parents=True)
        (staged / ".nautilus-staged").write_text(token)
        (staged / "new/p/kustomization.yaml").write_text("resources: []\n")
    (root / "overlays/.nautilus-replace.tmp").write_text("{")
    keep = root / "overlays/.keep-me"
    keep.mkdir()
    assert nautilus(*new("v1")[1:], cwd=root).code == 0
    assert leftovers(root) == [".keep-me"]
