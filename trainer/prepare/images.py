"""Decode every image of a split once, resize it to the load size and store it in a memory-mappable shard.

The resize is the reference's transforms.Resize([load_size, load_size], BICUBIC) on an RGB PIL image,
so training reads exactly what the reference computes per sample, without decoding a JPEG.
Pillow releases the GIL while decoding and resizing, so a thread pool uses every core given.
"""
from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from trainer.errors import UsageError

# The reference's IMG_EXTENSIONS (data/image_folder.py), compared case-insensitively.
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff", ".webp"}


def list_images(split_dir: Path) -> tuple[list[Path], int]:
    """The split's image files in the reference's order (sorted paths) and how many other files were skipped."""
    files = sorted(p for p in split_dir.rglob("*") if p.is_file())
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("._")]
    return images, len(files) - len(images)


def load_resized(path: Path, size: int) -> np.ndarray:
    """HxWx3 uint8 of one image at size x size, as the reference's loader produces it."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise UsageError(f"{path.parent.name}/{path.name} is not a decodable image ({e})",
                        "remove or replace it in the dataset source") from None


def shard_bytes(count: int, size: int) -> int:
    """A shard's size on disk, known before any image is decoded: the free-space check adds these up."""
    return len(_header(count, size)) + count * size * size * 3


def _header(count: int, size: int) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": "|u1", "fortran_order": False, "shape": (count, size, size, 3)})
    return out.getvalue()


def write_shard(images: list[Path], shard: Path, size: int, threads: int) -> None:
    """All images of a split into one .npy (N x size x size x 3 uint8), decoded in parallel, then fsynced.

    Written with ordinary writes in image order, never through a memory map: on a full volume a write
    fails with ENOSPC (an error the caller reports and cleans up after), where a store into a mapped page
    would kill the process with SIGBUS."""
    window = 4 * threads  # images decoded ahead of the writer: memory stays bounded
    with open(shard, "wb") as f, ThreadPoolExecutor(threads) as pool:
        f.write(_header(len(images), size))
        for start in range(0, len(images), window):
            for pixels in pool.map(load_resized, images[start:start + window], [size] * window):  # re-raises a bad image
                f.write(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())
        f.flush()
        os.fsync(f.fileno())
