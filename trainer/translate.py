"""Translate a folder of images with one generator.

    python -m trainer.translate --checkpoint /data/runs/NAME --direction AtoB --input DIR --output DIR
    python -m trainer.translate --generator latest_net_G_A.pth --input DIR --output DIR

--checkpoint takes a run folder (newest readable checkpoint), a checkpoints folder or one step_N.pt file;
AtoB uses G_A, BtoA uses G_B. --generator takes a reference-format state dict (ours or the reference's).
Images are resized BICUBIC to --size (the reference tests at 256) or, with --size 0, kept at their size
rounded down to a multiple of 4; outputs are PNGs with the input's name.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import checkpoint as ckpt
from .config import UsageError
from .data import IMAGE_EXTENSIONS, to_tensor
from .models import generator_from_state, load_generator
from .train import save_image


def generator_from_checkpoint(path: Path, direction: str):
    path = Path(path)
    if path.is_dir():
        folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
        state, _ = ckpt.load_latest(folder)
        if state is None:
            raise UsageError(f"no checkpoint in {folder}", "train first or pass a step_N.pt file")
    else:
        try:
            state = ckpt.read(path)
        except Exception as e:
            raise UsageError(f"cannot read checkpoint {path}: {e.__class__.__name__}: {str(e)[:120]}",
                             "pass a complete step_N.pt file or the run folder") from None
    return generator_from_state(state["nets"]["G_A" if direction == "AtoB" else "G_B"])


@torch.no_grad()
def translate_image(net, img: Image.Image, size: int, device) -> np.ndarray:
    img = img.convert("RGB")
    if size:
        img = img.resize((size, size), Image.BICUBIC)
    else:
        w, h = img.size
        img = img.crop((0, 0, w - w % 4, h - h % 4))
    x = to_tensor(np.asarray(img)).unsqueeze(0).to(device)
    y = net(x)[0].clamp(-1, 1).add(1).mul(127.5).round().byte()
    return y.permute(1, 2, 0).cpu().numpy()


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        print(f"error: {message}; see python -m trainer.translate --help", file=sys.stderr)
        sys.exit(2)


def main(argv=None) -> int:
    p = _Parser(prog="python -m trainer.translate", description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="run folder, checkpoints folder or step_N.pt")
    src.add_argument("--generator", type=Path, help="reference-format generator .pth")
    p.add_argument("--direction", choices=("AtoB", "BtoA"), default="AtoB", help="with --checkpoint")
    p.add_argument("--input", type=Path, required=True, help="folder of images")
    p.add_argument("--output", type=Path, required=True, help="folder for the translated PNGs")
    p.add_argument("--size", type=int, default=256, help="square size to resize to; 0 keeps the size")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    try:
        if args.size < 0 or (args.size and args.size % 4):
            raise UsageError(f"--size {args.size} is not a multiple of 4", "use 256, 512, ... or 0")
        if args.generator:
            try:
                net = load_generator(args.generator)
            except Exception as e:
                raise UsageError(f"cannot load generator {args.generator}: {e.__class__.__name__}: {str(e)[:160]}",
                                 "pass a ResNet generator state dict such as latest_net_G_A.pth") from None
        else:
            net = generator_from_checkpoint(args.checkpoint, args.direction)
        net.to(args.device).eval()
        if not args.input.is_dir():
            raise UsageError(f"--input {args.input} is not a folder", "pass a folder of images")
        paths = sorted(q for q in args.input.iterdir() if q.suffix.lower() in IMAGE_EXTENSIONS)
        if not paths:
            raise UsageError(f"no images in {args.input}", "pass a folder with .jpg/.png files")
        for q in paths:
            try:
                with Image.open(q) as img:
                    out = translate_image(net, img, args.size, args.device)
            except OSError as e:
                raise UsageError(f"cannot decode {q}: {e}", "replace or remove the file") from None
            save_image(args.output / f"{q.stem}.png", out)
        print(f"translated {len(paths)} images into {args.output}")
        return 0
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
