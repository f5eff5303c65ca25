"""The repository as it was at a git ref, unpacked into a temporary folder (the working tree is not touched)."""
import io
import subprocess
import tarfile
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import UsageError


def _git(*args: str, cwd: Path, binary: bool = False):
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=not binary)
    if proc.returncode != 0:
        err = proc.stderr.decode() if binary else proc.stderr
        raise UsageError(f"git {args[0]} failed: {err.strip().splitlines()[-1] if err.strip() else proc.returncode}",
                         "run inside the repository and pass a ref that exists (e.g. origin/main, HEAD~1)")
    return proc.stdout


def toplevel(start: Path | None = None) -> Path:
    return Path(_git("rev-parse", "--show-toplevel", cwd=start or Path.cwd()).strip())


@contextmanager
def checkout(ref: str, repo: Path):
    """A temporary folder holding the tree of ref (via `git archive`)."""
    proc = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=repo,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise UsageError(f"{ref} is not a commit of {repo}", "pass a branch, tag or commit (e.g. origin/main, HEAD~1)")
    commit = proc.stdout.strip()
    archive = _git("archive", "--format=tar", commit, cwd=repo, binary=True)
    with tempfile.TemporaryDirectory(prefix="nautilus-base-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp)
