"""Translate a folder of images with one generator.

    python -m trainer.translate --checkpoint /data/runs/NAME --direction AtoB --input DIR --output DIR
    python -m trainer.translate --generator latest_net_G_A.pth --input DIR --output DIR

--checkpoint takes a run folder (newest readable checkpoint), a checkpoints folder or one step_N.pt file;
AtoB uses G_A, BtoA uses G_B. --generator takes a reference-format state dict (ours or the reference's).
Images are resized BICUBIC to --size (the reference tests at 256) or, with --size 0, kept at their size
rounded down to a multiple of 4; outputs are PNGs with the input's name.
"""
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import checkpoint as ckpt, cli, volume
from .errors import UsageError
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


MAX_SIZE = 4096  # the schema's crop_size bound: a bigger square would only exhaust memory


def pick_device(name: str) -> torch.device:
    """--device as a device that exists here: cpu, cuda or cuda:N with N below the visible GPU count."""
    fix = "use --device cpu, cuda or cuda:N"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device {name!r} is not a device", fix) from None
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if (device.index or 0) >= count:
            raise UsageError(f"--device {name}: this machine has {count} visible GPU(s)",
                             "use --device cpu" + (f" or cuda:0..cuda:{count - 1}" if count else ""))
    elif device.type != "cpu":
        raise UsageError(f"--device {name}: only cpu and cuda are supported", fix)
    return device


def main(argv=None) -> int:
    p = cli.Parser(prog="python -m trainer.translate", description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="run folder, checkpoints folder or step_N.pt")
    src.add_argument("--generator", type=Path, help="reference-format generator .pth")
    p.add_argument("--direction", choices=("AtoB", "BtoA"), default="AtoB", help="with --checkpoint")
    p.add_argument("--input", type=Path, required=True, help="folder of images")
    p.add_argument("--output", type=Path, required=True, help="folder for the translated PNGs")
    p.add_argument("--size", type=int, default=256, help="square size to resize to; 0 keeps the size")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    return cli.run(lambda: translate(args))


def translate(args) -> int:
    if args.size and not (8 <= args.size <= MAX_SIZE and args.size % 4 == 0):  # the generator's own constraint
        raise UsageError(f"--size {args.size} is not a multiple of 4 from 8 to {MAX_SIZE}", "use 256, 512, ... or 0")
    device = pick_device(args.device)
    if not args.input.is_dir():
        raise UsageError(f"--input {args.input} is not a folder", "pass a folder of images")
    paths = sorted(q for q in args.input.iterdir() if q.suffix.lower() in IMAGE_EXTENSIONS)
    if not paths:
        raise UsageError(f"no images in {args.input}", "pass a folder with .jpg/.png files")
    if args.generator:
        try:
            net = load_generator(args.generator)
        except Exception as e:
            raise UsageError(f"cannot load generator {args.generator}: {e.__class__.__name__}: {str(e)[:160]}",
                             "pass a ResNet generator state dict such as latest_net_G_A.pth") from None
    else:
        net = generator_from_checkpoint(args.checkpoint, args.direction)
    net.to(device).eval()
    volume.writable_folder(args.output, "--output")
    for q in paths:
        try:
            with Image.open(q) as img:
                out = translate_image(net, img, args.size, device)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise UsageError(f"cannot decode {q}: {e}", "replace or remove the file") from None
        save_image(args.output / f"{q.stem}.png", out)
    print(f"translated {len(paths)} images into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
