"""The repository as it was at a git ref, unpacked into a temporary folder (the working tree is not touched)."""
import io
import subprocess
import tarfile
import tempfile
from contextlib import contextmanager
from pathlib import Path

from trainer.errors import UsageError


def _git(*args: str, cwd: Path, binary: bool = False):
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=not binary)
    if proc.returncode != 0:
        err = proc.stderr.decode() if binary else proc.stderr
        raise UsageError(f"git {args[0]} failed: {err.strip().splitlines()[-1] if err.strip() else proc.returncode}",
                         "run inside the repository and pass a ref that exists (e.g. origin/main, HEAD~1)")
    return proc.stdout


def toplevel(start: Path | None = None) -> Path:
    return Path(_git("rev-parse", "--show-toplevel", cwd=start or Path.cwd()).strip())


def commit(ref: str, repo: Path) -> str:
    """The commit ref names; UsageError when it names none."""
    proc = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=repo,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise UsageError(f"{ref} is not a commit of {repo}", "pass a branch, tag or commit (e.g. origin/main, HEAD~1)")
    return proc.stdout.strip()


def changed(ref: str, repo: Path) -> set[Path]:
    """Paths (relative to repo) that differ between ref and the working tree: tracked files changed, added or
    deleted since ref, and untracked or ignored files (an untracked folder is listed once, as the folder)."""
    diff = _git("diff", "--name-only", "-z", "--no-renames", commit(ref, repo), "--", cwd=repo).split("\0")
    status = _git("status", "--porcelain=v1", "-z", "--ignored", cwd=repo).split("\0")
    loose = [entry[3:] for entry in status if entry[:3] in ("?? ", "!! ")]
    return {Path(name.rstrip("/")) for name in diff + loose if name}


def _inside(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    """tarfile's data filter, except that what it refuses is left out rather than ending the extraction: a link
    to an absolute path or out of the tree (a committed `.venv`, a link to /usr/bin/python), a device."""
    try:
        return tarfile.data_filter(member, path)
    except tarfile.FilterError:
        return None


@contextmanager
def checkout(ref: str, repo: Path):
    """A temporary folder holding the tree of ref (via `git archive`), links out of the tree left out: what
    reads through one then finds nothing there, as kustomize would refuse to follow it."""
    archive = _git("archive", "--format=tar", commit(ref, repo), cwd=repo, binary=True)
    with tempfile.TemporaryDirectory(prefix="nautilus-base-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter=_inside)
        yield Path(tmp)
