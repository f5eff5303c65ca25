"""The trainer image a repository publishes: its name and the tag of its current trainer code.

.github/workflows/image.yml computes the same in shell (tests/test_workflows.py runs that shell against this):
- name: the repository variable TRAINER_IMAGE when set (here: the environment variable of that name), else
  ghcr.io/<owner>/<repo>/trainer of the GitHub repository (here: of the `origin` remote, its scheme and host
  in any case); lower-cased, as registries require; a name outside the registries' grammar is refused,
  naming where it came from;
- tag: `src-` and 12 hex digits of the sha256 of the git object ids of what goes into the image
  (SOURCES at HEAD, one per line): the same trainer code gives the same tag, in CI and on a laptop.
"""
import hashlib
import os
import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from generator.core import image_ref
from trainer.errors import UsageError

VARIABLE = "TRAINER_IMAGE"
SOURCES = ("trainer", "schemas/train-config.schema.json")  # the image's build context and the file copied into it
TAG_PREFIX = "src-"
# https://, ssh:// or scp-like git@host:, the host in any case (https://GitHub.com/...), an ASCII owner and repository
GITHUB_REMOTE = re.compile(r"^(?:[a-z+]+://)?(?:[^@/]+@)?github\.com(?::[0-9]+)?[:/]([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)"
                           r"(?:\.git)?/?$", re.IGNORECASE)


@dataclass(frozen=True)
class Image:
    name: str
    tag: str
    source: str = VARIABLE  # where the name came from, for messages: TRAINER_IMAGE or the git remote origin (URL)

    def __str__(self) -> str:
        return f"{self.name}:{self.tag}"

    def check(self) -> None:
        """A UsageError naming the source when the name is outside the registries' grammar (image_ref.py)."""
        try:
            image_ref.parse(str(self))
        except ValueError as exc:
            fix = (f"set {VARIABLE} to a lowercase name such as registry/group/trainer (or unset it), or pass --image"
                   if self.source == VARIABLE else
                   f"pass --image, or set {VARIABLE} to the name your image workflow publishes")
            raise UsageError(f"the image name that {self.source} gives is not valid: {exc}", fix) from None


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None


def name_from_remote(url: str) -> str | None:
    """ghcr.io/<owner>/<repo>/trainer for a GitHub remote (https or ssh), lower-cased as GHCR requires."""
    match = GITHUB_REMOTE.match(url.strip())
    return f"ghcr.io/{match[1]}/{match[2]}/trainer".lower() if match else None


def tag_of(object_ids: list[str]) -> str:
    return TAG_PREFIX + hashlib.sha256("".join(f"{i}\n" for i in object_ids).encode()).hexdigest()[:12]


def named(root: Path) -> tuple[str, str] | None:
    """(the image name the repository at root publishes, where it came from); None when neither TRAINER_IMAGE
    nor a GitHub origin says."""
    if os.environ.get(VARIABLE):
        return os.environ[VARIABLE].lower(), VARIABLE
    url = _git(root, "remote", "get-url", "origin")
    found = name_from_remote(url) if url else None
    return (found, f"the git remote origin ({_without_credentials(url)})") if found else None


def _without_credentials(url: str) -> str:
    """url as a message may show it: the user and token of https://user:token@host/... left out."""
    return re.sub(r"^([a-z+]+://)[^@/]*@", r"\1", url, flags=re.IGNORECASE)


def name(root: Path) -> str | None:
    """The image name the repository at root publishes, or None (named)."""
    found = named(root)
    return found[0] if found else None


def tag(root: Path, ref: str = "HEAD") -> str | None:
    """The tag image.yml gives the image built from the trainer code at ref; None without that code."""
    ids = _git(root, "rev-parse", *(f"{ref}:{source}" for source in SOURCES))
    return tag_of(ids.split()) if ids and len(ids.split()) == len(SOURCES) else None


def image(root: Path) -> Image | None:
    """The image the repository at root publishes for its current (committed) trainer code."""
    found_name, found_tag = named(root), tag(root)
    return Image(found_name[0], found_tag, found_name[1]) if found_name and found_tag else None


@cache
def _current(root: Path, variable: str | None) -> Image | None:
    return image(root)


def current(root: Path) -> Image | None:
    """image(root), asked once per repository (the validator asks per container)."""
    return _current(root.resolve(), os.environ.get(VARIABLE))


def is_current(root: Path, reference: str) -> bool | None:
    """Whether an image reference is what the repository at root publishes for its current trainer code.

    None when the reference names another image (or is pinned by digest): nothing to compare. A release tag
    (v1.2.3, a git tag the workflow also publishes) counts when its trainer code is the current code."""
    published = current(root)
    if published is None or "@" in reference:
        return None
    image_name, colon, image_tag = reference.rpartition(":")
    if not colon or "/" in image_tag or image_name != published.name:
        return None
    return image_tag == published.tag or tag(root, f"refs/tags/{image_tag}") == published.tag


def uncommitted(root: Path) -> list[str]:
    """The image's sources (SOURCES) changed, added or deleted but not committed: the tag, which is HEAD's, lacks them."""
    changed = _git(root, "diff", "--name-only", "HEAD", "--", *SOURCES) or ""
    added = _git(root, "ls-files", "--others", "--exclude-standard", "--", *SOURCES) or ""
    return sorted(set(changed.splitlines()) | set(added.splitlines()))


def uncommitted_warning(root: Path | None) -> str | None:
    """One line when the repository at root has trainer changes its image tag does not contain, else None."""
    changed = uncommitted(root) if root is not None else []
    if not changed or tag(root) is None:
        return None
    shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
    return (f"warning: uncommitted changes in the trainer's code ({shown}) are not in the image tag {tag(root)}, which is "
            "the last commit's; commit them and push a branch (README step 3): the image workflow builds its tag")
