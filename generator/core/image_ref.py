"""Container image references in the grammar of github.com/distribution/reference (what registries,
kubelet and kustomize accept): [domain/]path[:tag][@digest], one check for `nautilus new` and `validate`."""
import re
from dataclasses import dataclass

_COMPONENT = r"[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*"                # lowercase path component
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_REFERENCE = re.compile(rf"(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_COMPONENT}(?:/{_COMPONENT})*)"
                        r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
                        r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?")
NAME_MAX = 255
DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}


@dataclass(frozen=True)
class Reference:
    name: str       # [domain/]path
    tag: str        # '' when absent
    digest: str     # '' when absent, else algorithm:hex


def parse(text) -> Reference:
    """text as a reference; ValueError saying why not (uppercase path, spaces, over 255 characters, ...)."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"{text!r} is not an image reference")
    match = _REFERENCE.fullmatch(text)
    if not match:
        why = ("its repository path has uppercase letters" if text.split("@")[0].lower() != text.split("@")[0]
               and _REFERENCE.fullmatch(text.lower()) else "it does not follow [registry/]path[:tag][@digest] "
               "(lowercase path, tag of at most 128 of A-Za-z0-9_.-, digest algorithm:hex)")
        raise ValueError(f"{text!r} is not a valid image reference: {why}")
    if len(match["name"]) > NAME_MAX:
        raise ValueError(f"image name {match['name'][:40]!r}... is {len(match['name'])} characters, over {NAME_MAX}")
    digest = match["digest"] or ""
    algorithm, _, hex_part = digest.partition(":")
    if digest and (algorithm not in DIGEST_HEX or len(hex_part) != DIGEST_HEX[algorithm] or hex_part != hex_part.lower()):
        raise ValueError(f"{text!r} has a malformed digest (sha256: and 64 lowercase hex digits)")
    return Reference(match["name"], match["tag"] or "", digest)


def unpinned(reference: Reference) -> str | None:
    """Why reference may change under a running project, or None when a digest or a tag other than latest pins it."""
    if reference.digest or (reference.tag and reference.tag != "latest"):
        return None
    return "its tag is latest" if reference.tag else "it has no tag or digest"
