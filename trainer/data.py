"""Unaligned A/B images for CycleGAN: a plain folder (trainA/trainB/...) or a prepared dataset (trainer.shards).

Every random choice for a sample (its B partner, crops, flips) is drawn from a generator seeded by
(seed, epoch, index). A sample is therefore a pure function of its position in the epoch, whatever the
rank, world size or DataLoader worker: resuming mid-epoch needs no loader state, and N ranks at batch b
see exactly the global batches one process sees at batch N x b.
"""
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset, Sampler

from . import shards
from .errors import UsageError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp"}


class ImageFolder:
    """Sequence of HxWx3 uint8 arrays from one folder, decoded with PIL, resized BICUBIC to a square."""

    def __init__(self, folder: Path, load_size: int):
        self.paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        self.load_size = load_size
        if not self.paths:
            raise UsageError(f"no images in {folder}", "put .jpg/.png files there or fix dataset.path")
        for p in self.paths:  # headers only: catches non-images early and cheaply
            try:
                with Image.open(p):
                    pass
            except (UnidentifiedImageError, OSError) as e:
                raise UsageError(f"{p} is not a readable image ({e.__class__.__name__})",
                                 "replace or delete the file") from None

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        try:
            with Image.open(self.paths[i]) as im:
                im = im.convert("RGB").resize((self.load_size, self.load_size), Image.BICUBIC)
                return np.asarray(im)
        except OSError as e:
            raise UsageError(f"cannot decode {self.paths[i]}: {e}", "replace or delete the file") from None


def open_splits(cfg: dict, root: Path, splits=("trainA", "trainB")) -> dict:
    """The named splits of the configured dataset as sequences of uint8 images (missing optional ones omitted).

    The data stage's published version is preferred whenever there is one (memory-mapped shards: no
    decoding while training); dataset.path is read directly, decoding per sample, only when nothing is
    published yet.
    """
    ds = cfg["dataset"]
    folder = Path(ds["path"]) if ds.get("path") else None
    if folder is None or (shards.dataset_dir(root, ds["name"]) / shards.LATEST).exists():
        version = shards.resolve(Path(root), ds["name"])
        published = shards.read_manifest(version)["splits"]
        out = {s: shards.open_split(version, s) for s in splits if s in published}
        source = str(version)
    elif (folder / "trainA").is_dir():
        out = {s: ImageFolder(folder / s, ds["load_size"]) for s in splits if (folder / s).is_dir()}
        source = str(folder)
    else:
        raise UsageError(f"dataset.path {folder} has no trainA/ folder", "point dataset.path at a folder with trainA/trainB")
    for s in ("trainA", "trainB"):
        if s in splits and (s not in out or len(out[s]) == 0):
            raise UsageError(f"dataset {source} has no images in {s}", "CycleGAN needs both trainA and trainB")
    return out


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> float CxHxW in [-1, 1] (the reference's Normalize((0.5,)*3, (0.5,)*3))."""
    # np.array copies the (possibly read-only, memory-mapped) uint8 crop; the float work is done in place.
    return torch.from_numpy(np.array(img)).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


def augment(img: np.ndarray, crop: int, flip: bool, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    if h < crop or w < crop:
        raise UsageError(f"images are {w}x{h}, smaller than train.crop_size {crop}",
                         "lower train.crop_size or raise dataset.load_size")
    top, left = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
    img = img[top:top + crop, left:left + crop]
    if flip and rng.random() < 0.5:
        img = img[:, ::-1]
    return img


class Unaligned(Dataset):
    """Item (epoch, i): A image i (mod |A|) and a random B image, independently cropped and flipped."""

    def __init__(self, A, B, crop: int, flip: bool, seed: int):
        self.A, self.B, self.crop, self.flip, self.seed = A, B, crop, flip, seed

    def __len__(self):
        return max(len(self.A), len(self.B))  # the reference's epoch: the larger domain once

    def __getitem__(self, key):
        epoch, i = key
        rng = np.random.default_rng([self.seed, epoch, i])
        b = int(rng.integers(0, len(self.B)))
        a_img = augment(self.A[i % len(self.A)], self.crop, self.flip, rng)
        b_img = augment(self.B[b], self.crop, self.flip, rng)
        return to_tensor(a_img), to_tensor(b_img)


def epoch_order(n: int, epoch: int, seed: int) -> list[int]:
    """Shuffled indices for an epoch, padded (by wrapping) to a whole number of global batches later."""
    g = torch.Generator().manual_seed(seed * 100003 + epoch)
    return torch.randperm(n, generator=g).tolist()


class ShardSampler(Sampler):
    """DistributedSampler-style: rank r takes every world-th index of the epoch's permutation, from `start`.

    With per-rank batch b, step t of every rank together covers positions [t*b*world, (t+1)*b*world) of the
    permutation: the same global batch a single process takes at batch b*world."""

    def __init__(self, n: int, epoch: int, seed: int, rank: int, world: int, start: int = 0):
        order = epoch_order(n, epoch, seed)
        per_rank = math.ceil(n / world)
        order = (order * math.ceil(per_rank * world / n))[:per_rank * world]
        self.keys = [(epoch, i) for i in order[rank::world]][start:]

    def __len__(self):
        return len(self.keys)

    def __iter__(self):
        return iter(self.keys)


def steps_per_epoch(n: int, world: int, batch: int) -> int:
    return math.ceil(math.ceil(n / world) / batch)


def center_sample(img: np.ndarray, crop: int) -> torch.Tensor:
    h, w = img.shape[:2]
    top, left = (h - crop) // 2, (w - crop) // 2
    return to_tensor(img[top:top + crop, left:left + crop])
