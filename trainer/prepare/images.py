"""Decode every image of a split once, resize it to the load size and store it in a memory-mappable shard.

The resize is the reference's transforms.Resize([load_size, load_size], BICUBIC) on an RGB PIL image,
so training reads exactly what the reference computes per sample, without decoding a JPEG.
Pillow releases the GIL while decoding and resizing, so a thread pool uses every core given.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from trainer.shards import DataError

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
        raise DataError(f"{path.parent.name}/{path.name} is not a decodable image ({e})",
                        "remove or replace it in the dataset source") from None


def write_shard(images: list[Path], shard: Path, size: int, threads: int) -> None:
    """All images of a split into one .npy (N x size x size x 3 uint8), filled in parallel, then fsynced."""
    out = np.lib.format.open_memmap(shard, mode="w+", dtype=np.uint8, shape=(len(images), size, size, 3))

    def fill(i: int) -> None:
        out[i] = load_resized(images[i], size)

    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(fill, range(len(images))):  # re-raises the first bad image
            pass
    out.flush()
    del out
    with open(shard, "rb") as f:
        os.fsync(f.fileno())
