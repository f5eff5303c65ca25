"""Serve a tiny CycleGAN dataset over HTTP inside the kind cluster (e2e only; no network reaches out).

Writes tiny.zip (tiny/trainA, trainB, testA, testB: a few 48x48 PNGs, the catalogue zips' layout) and serves
its folder on port 8080, so the data Job's download, verify, extract and pack steps run for real.
"""
import functools
import http.server
import io
import sys
import zipfile
from pathlib import Path

from PIL import Image

SIZES = {"trainA": 6, "trainB": 6, "testA": 2, "testB": 2}


def picture(seed: int, tint: tuple[int, int, int]) -> bytes:
    noise = [Image.effect_noise((48, 48), 40 + seed).point(lambda v, c=c: (v + c) % 256) for c in tint]
    out = io.BytesIO()
    Image.merge("RGB", noise).save(out, format="PNG")
    return out.getvalue()


def write_archive(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "tiny.zip.tmp", "w") as zf:
        for split, count in SIZES.items():
            tint = (120, 60, 0) if split.endswith("A") else (0, 60, 120)
            for i in range(count):
                zf.writestr(f"tiny/{split}/{i}.png", picture(i, tint))
    return (folder / "tiny.zip.tmp").rename(folder / "tiny.zip")  # the readiness probe waits for this name


def main(folder: Path) -> None:
    write_archive(folder)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    http.server.ThreadingHTTPServer(("", 8080), handler).serve_forever()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/scratch/www"))
