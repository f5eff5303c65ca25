"""A small generated CycleGAN dataset: two domains that differ by stripes, made from a seed.

Used by `nautilus demo` and the end-to-end smoke run, where nothing may be downloaded:
python -m trainer.synthetic OUT [--size 48] [--count 16]
writes OUT/{trainA,trainB,testA,testB}/NNN.png. Domain A is a smooth colour field ("horse"), domain B
the same kind of field under diagonal stripes ("zebra"): a translation a tiny CycleGAN can start to learn.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SPLITS = {"trainA": False, "trainB": True, "testA": False, "testB": True}  # split -> striped


def image(rng: np.random.Generator, size: int, striped: bool) -> Image.Image:
    field = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).resize((size, size), Image.BICUBIC)
    pixels = np.asarray(field, dtype=np.float32)
    if striped:
        y, x = np.mgrid[:size, :size]
        period = rng.uniform(size / 8, size / 4)
        stripes = (np.sin((x + y) * 2 * np.pi / period) > 0).astype(np.float32)[..., None]
        pixels = pixels * (0.25 + 0.75 * stripes)
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def make_dataset(out: Path, size: int = 48, count: int = 16, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for split, striped in SPLITS.items():
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count if split.startswith("train") else max(2, count // 4)):
            image(rng, size, striped).save(folder / f"{i:03d}.png")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.synthetic", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write trainA/trainB/testA/testB into")
    parser.add_argument("--size", type=int, default=48, help="image side in pixels")
    parser.add_argument("--count", type=int, default=16, help="training images per domain")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    make_dataset(args.out, args.size, args.count, args.seed)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
