"""Run one variant of a sweep: the pod's completion index picks it from sweep.yaml, then the unchanged stage
(trainer.train, or trainer.prepare in the init container) runs on train.yaml with the variant's keys set and
`run` set to <run>/<variant>, so each variant has its own folder, checkpoints and resume.

    python -m trainer.sweep trainer.train --config /etc/nautilus/train.yaml --root /data
    torchrun --nproc-per-node=gpu -m trainer.sweep trainer.train --config /etc/nautilus/train.yaml --root /data

The index is JOB_COMPLETION_INDEX, which Kubernetes sets in every pod of an Indexed Job (torchrun passes it on
to its processes), or --index. sweep.yaml is --sweep, by default the file beside --config (both come from the
overlay's ConfigMap). Every other argument goes to the stage as it is.
"""
import argparse
import importlib
import os
import sys
import tempfile
from pathlib import Path

from .config import SCHEMA_NAME, UsageError, dump, load, load_schema
from .variants import SWEEP_SCHEMA_NAME, SweepError, Variant, apply, expand, read

STAGES = {"trainer.train": "trainer.train", "trainer.prepare": "trainer.prepare.__main__"}  # stage -> module with main(argv)
INDEX_ENV = "JOB_COMPLETION_INDEX"


def select(config_path: Path, sweep_path: Path, index_text: str | None) -> tuple[Variant, int, dict]:
    """(variant, number of variants, its train.yaml content) for a completion index; UsageError otherwise."""
    if index_text is None:
        raise UsageError(f"no completion index: {INDEX_ENV} is not set", "run in an Indexed Job's pod, or pass --index N")
    if not index_text.isdigit():
        raise UsageError(f"completion index {index_text!r} is not a whole number", "pass --index N (0 for the first variant)")
    try:
        text = sweep_path.read_text()
    except OSError as e:
        raise UsageError(f"cannot read sweep {sweep_path}: {e.strerror}",
                         "add sweep.yaml beside train.yaml in the overlay (nautilus new --sweep), or pass --sweep PATH") from None
    try:
        variants = expand(read(text, str(sweep_path)), load_schema(SWEEP_SCHEMA_NAME), str(sweep_path))
    except SweepError as e:
        raise UsageError(e.what, e.fix) from None
    index = int(index_text)
    if index >= len(variants):
        raise UsageError(f"completion index {index} has no variant: {sweep_path} has {len(variants)}",
                         "set the Job's completions to the number of variants (nautilus validate checks it)")
    variant = variants[index]
    base = load(config_path)  # train.yaml itself is valid, defaults filled
    base["run"] = f"{base['run']}/{variant.name}"
    try:
        merged = apply(base, variant)
    except SweepError as e:
        raise UsageError(f"{variant.label(len(variants))}: {e.what}", e.fix) from None
    load(variant.label(len(variants)), text=dump(merged))  # valid, or the error names the variant and the key
    return variant, len(variants), merged


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        print(f"error: {message}; see python -m trainer.sweep --help", file=sys.stderr)
        sys.exit(2)


def main(argv=None) -> int:
    p = _Parser(prog="python -m trainer.sweep", description=__doc__.split("\n\n")[0],
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=list(STAGES), help="the module to run on the variant's config")
    p.add_argument("--config", type=Path, required=True, help=f"train.yaml (schema: schemas/{SCHEMA_NAME})")
    p.add_argument("--sweep", type=Path, help=f"sweep.yaml (schema: schemas/{SWEEP_SCHEMA_NAME}); default: beside --config")
    p.add_argument("--index", default=os.environ.get(INDEX_ENV), help=f"the variant's position, 0-based (default: ${INDEX_ENV})")
    args, rest = p.parse_known_args(argv)
    try:
        variant, total, cfg = select(args.config, args.sweep or args.config.with_name("sweep.yaml"), args.index)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        keys = " ".join(f"{k}={v!r}" for k, v in variant.values.items())
        print(f"sweep: {variant.label(total)}: {keys or 'train.yaml as it is'}; run {cfg['run']}", flush=True)
    stage = importlib.import_module(STAGES[args.stage])
    with tempfile.TemporaryDirectory(prefix="sweep-") as folder:  # $TMPDIR: the pod's /scratch
        path = Path(folder) / "train.yaml"
        path.write_text(dump(cfg))
        return stage.main(["--config", str(path), *rest])


if __name__ == "__main__":
    sys.exit(main())
