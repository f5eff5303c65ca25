"""python -m trainer.prepare --config /etc/nautilus/train.yaml --root /data  (the data Job; the train Job's init
container adds --published-only: it checks, never prepares, so no GPU waits on data work)

Flags stand in for (or override) the config file's dataset section, e.g.
python -m trainer.prepare --root /data --name horse2zebra --load-size 286
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from trainer import cli, volume
from trainer.cpus import available_cpus
from trainer.errors import UsageError
from trainer.prepare import prepare
from trainer.prepare.archive import DEFAULT_MAX_BYTES
from trainer.prepare.source import load_spec
from trainer.shards import dataset_dir, latest
from trainer.usage import Monitor

MAX_THREADS = 1024


def main(argv: list[str] | None = None) -> int:
    parser = cli.Parser(prog="python -m trainer.prepare", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="train.yaml; its dataset section says what to prepare")
    parser.add_argument("--root", type=Path, default=Path("/data"), help="the PVC mount (default /data)")
    parser.add_argument("--name", help="dataset name (a CycleGAN catalogue name, or any name with --url/--path)")
    parser.add_argument("--url", help="a zip or tar archive (http, https or file URL)")
    parser.add_argument("--path", help="a local folder with trainA/ and trainB/")
    parser.add_argument("--sha256", help="expected sha256 of the archive")
    parser.add_argument("--base-url", help="catalogue host override")
    parser.add_argument("--load-size", type=int, help="square size the images are resized to (default 286)")
    parser.add_argument("--keep-originals", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--compression", choices=["zstd", "gzip"], help="the packed archive's format (default zstd)")
    parser.add_argument("--threads", type=int, default=None, help="default: the CPUs the pod was given (cgroup quota)")
    parser.add_argument("--max-extract-bytes", type=int, default=DEFAULT_MAX_BYTES, help="refuse archives expanding beyond this")
    parser.add_argument("--published-only", action="store_true",
                        help="build nothing; exit 2 unless the dataset is already published (the train Job's check)")
    args = parser.parse_args(argv)
    return cli.run(lambda: run(args))


def run(args) -> int:
    if not args.config and not args.name:
        raise UsageError("no dataset given", "pass --config train.yaml, or --name (with --url or --path for non-catalogue data)")
    if args.threads is not None and not 1 <= args.threads <= MAX_THREADS:
        raise UsageError(f"--threads {args.threads} is not between 1 and {MAX_THREADS}", "leave it out to use the CPUs the pod was given")
    if args.max_extract_bytes < 1:
        raise UsageError(f"--max-extract-bytes {args.max_extract_bytes} is not positive", "leave it out for the 64 GiB default")
    spec = load_spec(args.config, name=args.name, url=args.url, path=args.path, sha256=args.sha256,
                     base_url=args.base_url, load_size=args.load_size, keep_originals=args.keep_originals,
                     compression=args.compression)
    root = args.root if args.published_only else volume.writable_folder(args.root, "--root")  # a check only reads
    # In the train Job this runs as the init container `prepare`; in the data Job as container `data`.
    monitor = Monitor("prepare" if os.environ.get("NAUTILUS_STAGE") == "train" else "data", gpus=None).start()
    before = _latest(root, spec.name)
    try:
        version = prepare(spec, root, threads=args.threads or math.ceil(available_cpus()),
                          max_extract_bytes=args.max_extract_bytes, log=lambda line: print(line, flush=True),
                          published_only=args.published_only)
    finally:
        monitor.stop()
    if version.name != before:  # a build, not a no-op: its use is worth keeping beside the dataset
        monitor.write(dataset_dir(root, spec.name) / "usage.json")
    return 0


def _latest(root: Path, name: str) -> str | None:
    try:
        return latest(dataset_dir(root, name))
    except UsageError:
        return None


if __name__ == "__main__":
    sys.exit(main())
