"""Run one variant of a sweep: the pod's completion index picks it from sweep.yaml, then the unchanged stage
(trainer.train, or trainer.prepare in the init container) runs on train.yaml with the variant's keys set and
`run` set to <run>/<variant>, so each variant has its own folder, checkpoints and resume.

    python -m trainer.sweep trainer.train --config /etc/nautilus/train.yaml --root /data
    torchrun --nproc-per-node=gpu -m trainer.sweep trainer.train --config /etc/nautilus/train.yaml --root /data

The index is JOB_COMPLETION_INDEX, which Kubernetes sets in every pod of an Indexed Job (torchrun passes it on
to its processes), or --index. sweep.yaml is --sweep, by default the file beside --config (both come from the
overlay's ConfigMap). Every other argument goes to the stage as it is. Training records the variant and how
its last attempt ended in runs/<run>/<variant>/variant.json, which `python -m trainer.compare` reads.
"""
import argparse
import importlib
import json
import os
import sys
import tempfile
from pathlib import Path

from . import atomic, cli, inputs
from .config import SCHEMA_NAME, dump, load, load_schema
from .errors import UsageError
from .variants import MAX_BYTES, SWEEP_SCHEMA_NAME, SweepError, Variant, apply, expand, read

STAGES = {"trainer.train": "trainer.train", "trainer.prepare": "trainer.prepare.__main__"}  # stage -> module with main(argv)
INDEX_ENV = "JOB_COMPLETION_INDEX"
RECORD = "variant.json"
MAX_RANK = 2**20      # processes of one training run
MAX_INDEX = 100_000   # Kubernetes' limit on an Indexed Job's completions


def pick(sweep_path: Path, index_text: str | None) -> tuple[Variant, int]:
    """(variant, number of variants) for a completion index; UsageError otherwise."""
    if index_text is None:
        raise UsageError(f"no completion index: {INDEX_ENV} is not set", "run in an Indexed Job's pod, or pass --index N")
    index = inputs.parse_int(index_text, f"completion index (--index or ${INDEX_ENV})", 0, MAX_INDEX,
                             "pass --index N (0 for the first variant)")
    text = inputs.read_text(sweep_path, f"sweep {sweep_path}", MAX_BYTES,
                            "add sweep.yaml beside train.yaml in the overlay (nautilus new --sweep), or pass --sweep PATH")
    try:
        variants = expand(read(text, str(sweep_path)), load_schema(SWEEP_SCHEMA_NAME), str(sweep_path))
    except SweepError as e:
        raise UsageError(e.what, e.fix) from None
    if index >= len(variants):
        raise UsageError(f"completion index {index} has no variant: {sweep_path} has {len(variants)}",
                         "set the Job's completions to the number of variants (nautilus validate checks it)")
    return variants[index], len(variants)


def variant_config(base: dict, variant: Variant, total: int) -> dict:
    """train.yaml (loaded, valid) with the variant's keys and run folder; UsageError naming the variant and key."""
    base = {**base, "run": f"{base['run']}/{variant.name}"}
    try:
        merged = apply(base, variant)
    except SweepError as e:
        raise UsageError(f"{variant.label(total)}: {e.what}", e.fix) from None
    load(variant.label(total), text=dump(merged))  # valid, or the error names the variant and the key
    return merged


def main(argv=None) -> int:
    p = cli.Parser(prog="python -m trainer.sweep", description=__doc__.split("\n\n")[0],
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=list(STAGES), help="the module to run on the variant's config")
    p.add_argument("--config", type=Path, required=True, help=f"train.yaml (schema: schemas/{SCHEMA_NAME})")
    p.add_argument("--sweep", type=Path, help=f"sweep.yaml (schema: schemas/{SWEEP_SCHEMA_NAME}); default: beside --config")
    p.add_argument("--index", default=os.environ.get(INDEX_ENV), help=f"the variant's position, 0-based (default: ${INDEX_ENV})")
    p.add_argument("--root", type=Path, default=Path("/data"), help="the PVC mount, passed on to the stage")
    args, rest = p.parse_known_args(argv)
    return cli.run(lambda: run(args, rest))


def rank() -> int:
    """This process's rank among torchrun's (0 without torchrun)."""
    return inputs.env_int("RANK", 0, 0, MAX_RANK)


def run(args, rest: list[str]) -> int:
    variant, total = pick(args.sweep or args.config.with_name("sweep.yaml"), args.index)
    base = load(args.config)
    folder = args.root / "runs" / base["run"] / variant.name
    recording = args.stage == "trainer.train" and rank() == 0

    def record(state: str, exit_code: int | None, error: str | None = None) -> None:
        if recording:
            atomic.write_text(folder / RECORD, json.dumps({
                "index": variant.index, "name": variant.name, "variants": total, "set": variant.values,
                "state": state, "exit_code": exit_code, "error": error}, indent=1) + "\n")
    try:
        cfg = variant_config(base, variant, total)
    except UsageError as e:
        record("failed", 2, str(e))
        raise
    if rank() == 0:
        keys = " ".join(f"{k}={v!r}" for k, v in variant.values.items())
        print(f"sweep: {variant.label(total)}: {keys or 'train.yaml as it is'}; run {cfg['run']}", flush=True)
    record("running", None)
    stage = importlib.import_module(STAGES[args.stage])
    try:
        with tempfile.TemporaryDirectory(prefix="sweep-") as tmp:  # $TMPDIR: the pod's /scratch
            path = Path(tmp) / "train.yaml"
            path.write_text(dump(cfg))
            code = stage.main(["--config", str(path), "--root", str(args.root), *rest])
    except BaseException as e:
        record("failed", None, f"{type(e).__name__}: {e}"[:500])
        raise
    # 128 + signal: stopped (preempted, evicted) after a checkpoint; the Job's next pod resumes it
    record("stopped" if code >= 128 else "failed" if code else "finished", code)
    return code


if __name__ == "__main__":
    sys.exit(main())
