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

from .config import UsageError

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
    """The named splits of the configured dataset as sequences of uint8 images (missing optional ones omitted)."""
    ds = cfg["dataset"]
    folder = Path(ds["path"]) if ds.get("path") else None
    if folder is not None and (folder / "trainA").is_dir():
        out = {s: ImageFolder(folder / s, ds["load_size"]) for s in splits if (folder / s).is_dir()}
        source = str(folder)
    else:
        if folder is not None and not folder.is_dir():
            raise UsageError(f"dataset.path {folder} does not exist", "point dataset.path at a folder with trainA/trainB")
        try:
            from . import shards  # published by the data stage; imported only when used
            version = shards.resolve(Path(root), ds["name"])
        except (ImportError, AttributeError) as e:
            raise UsageError(f"no prepared-dataset support in this image ({e})",
                             "set dataset.path to a folder with trainA/trainB") from None
        except UsageError:
            raise  # already says what is wrong and how to fix it
        except Exception as e:  # resolve() names what is wrong: missing LATEST, bad manifest, ...
            raise UsageError(f"dataset {ds['name']!r} under {root}/datasets is not usable: {e}",
                             "run the data stage: python -m trainer.prepare --config <train.yaml> --root <root>") from None
        out = {}
        for s in splits:
            try:
                out[s] = shards.open_split(version, s)
            except Exception as e:  # testA/testB are optional (samples then come from train)
                if s.startswith("train"):
                    raise e if isinstance(e, UsageError) else UsageError(
                        f"prepared dataset {version} has no usable {s}: {e}", "re-run the data stage") from None
        source = str(version)
    for s in ("trainA", "trainB"):
        if s in splits and (s not in out or len(out[s]) == 0):
            raise UsageError(f"dataset {source} has no images in {s}", "CycleGAN needs both trainA and trainB")
    return out


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> float CxHxW in [-1, 1] (the reference's Normalize((0.5,)*3, (0.5,)*3))."""
    return torch.from_numpy(np.array(img, dtype=np.float32)).permute(2, 0, 1).div(127.5).sub(1.0)  # copies: inputs may be read-only (mmap)


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
