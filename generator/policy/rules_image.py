"""Coded rules on container images: a valid, pinned reference (generator/core/image_ref.py, as `nautilus new` checks
it), and an overlay naming this repository's image runs its current trainer code."""
from generator.core import image_ref as image
from generator.core import published_image as published
from generator.core import repo
from generator.policy.registry import coded


@coded("image-pinned")
def image_pinned(container: dict, _):
    try:
        reference = image.parse(container.get("image"))
    except ValueError as exc:
        yield str(exc)
        return
    why = image.unpinned(reference)
    if why:
        yield f"image {container['image']} is not pinned: {why}"


@coded("image-published")
def image_published(container: dict, _):
    root, image = repo.find(), str(container.get("image") or "")
    if root is None or published.is_current(root, image) is not False:
        return  # another repository's image, a digest, or no published image here: nothing to compare
    yield (f"image {image} is not what this repository publishes for its current trainer code "
           f"({published.current(root)})")
