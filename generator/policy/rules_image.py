"""Coded rule on the trainer image: an overlay naming this repository's image runs its current trainer code."""
from .. import published, repo
from .registry import coded


@coded("image-published")
def image_published(container: dict, _):
    root, image = repo.find(), str(container.get("image") or "")
    if root is None or published.is_current(root, image) is not False:
        return  # another repository's image, a digest, or no published image here: nothing to compare
    yield (f"image {image} is not what this repository publishes for its current trainer code "
           f"({published.current(root)})")
