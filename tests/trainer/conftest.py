"""Tiny generated CycleGAN datasets and configs; every trainer test runs on CPU with one thread."""
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the subprocesses the tests start
torch.set_num_threads(1)


def make_images(folder: Path, count: int, size: int, seed: int, fmt: str = "png") -> None:
    """Smooth random colour fields (upsampled noise): learnable, unlike pure noise."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((size, size), Image.BILINEAR)
        img.save(folder / f"{i:03d}.{fmt}")


@pytest.fixture
def dataset(tmp_path) -> Path:
    root = tmp_path / "h2z"
    make_images(root / "trainA", 4, 20, 1, "png")
    make_images(root / "trainB", 3, 24, 2, "jpg")
    make_images(root / "testA", 2, 20, 3, "png")
    make_images(root / "testB", 2, 20, 4, "jpg")
    return root


def write_config(path: Path, dataset: Path, run: str = "t", **sections) -> Path:
    """A tiny train.yaml; `sections` override keys, e.g. train={"max_steps": 4}."""
    cfg = {
        "run": run,
        "dataset": {"name": "h2z", "path": str(dataset), "load_size": 18},
        "model": {"ngf": 4, "ndf": 4, "n_blocks": 1, "n_layers_d": 2},
        "train": {"epochs": 2, "epochs_decay": 1, "crop_size": 16, "workers": 0, "pool_size": 2},
        "checkpoint": {"every_minutes": 60, "keep": 3},
        "log": {"every_steps": 1},
    }
    for key, value in sections.items():
        cfg.setdefault(key, {}).update(value) if isinstance(value, dict) else cfg.__setitem__(key, value)
    import json
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


def python_env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    return env


PYTHON = sys.executable
