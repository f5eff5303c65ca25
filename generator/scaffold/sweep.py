"""`nautilus new --sweep KEY=V1,V2 --parallel N`: the overlay's sweep.yaml and sweep-job.yaml, checked with
the expansion the pods themselves run (trainer/variants.py), so a bad variant fails here, not on a GPU."""
import math
from pathlib import Path

from ruamel.yaml.comments import CommentedSeq

from generator.core import yamlio
from generator.core.schemas import sweep_schema, train_config_schema
from trainer import safe_yaml
from trainer.errors import UsageError
from trainer.variants import expand, problems, Variant

TEMPLATES = Path(__file__).parent / "templates" / "overlay"
EXAMPLE = "write it like --sweep train.lr=1e-4,2e-4"


def grid(options: tuple[str, ...]) -> dict[str, list]:
    """--sweep options -> {dotted key: [values]}; each value read as YAML (1e-4, 0, true, text)."""
    found: dict[str, list] = {}
    for option in options:
        key, sep, raw = option.partition("=")
        if not sep or not key or not raw:
            raise UsageError(f"--sweep {option!r} is not KEY=VALUE,VALUE", EXAMPLE)
        if key in found:
            raise UsageError(f"--sweep names {key} twice", f"list all its values once: --sweep {key}=A,B")
        try:
            found[key] = [safe_yaml.load(item, "--sweep") if item.strip() else "" for item in raw.split(",")]
        except safe_yaml.YAMLInputError as e:
            raise UsageError(f"--sweep {option[:80]!r} has a value that is not YAML ({e.what})", EXAMPLE) from None
    return found


def variants(values: dict[str, list], train: dict) -> list[Variant]:
    """The grid's variants, each checked against train.yaml's schema; UsageError naming the first problem."""
    found = expand({"grid": values}, sweep_schema(), "--sweep")  # a SweepError is a UsageError
    bad = problems(train, found, train_config_schema())
    if bad:
        raise UsageError(f"--sweep: {bad[0]}", "fix the value (schema: schemas/train-config.schema.json)")
    return found


def check(values: dict[str, list], parallel: int, train: dict) -> None:
    """The sweep expands to valid variants, at least as many as run at once."""
    found = variants(values, train)
    if parallel > len(found):
        raise UsageError(f"--parallel {parallel} is more than the {len(found)} variants", f"use --parallel {len(found)} or less")


def write(folder: Path, values: dict[str, list], parallel: int, base: Path) -> None:
    """sweep.yaml and sweep-job.yaml of a checked sweep into folder; base is the bases' folder (for the train
    Job's deadline)."""
    found = expand({"grid": values}, sweep_schema(), "--sweep")
    sweep = yamlio.load(TEMPLATES / "sweep.yaml")
    for key, items in values.items():
        sweep["grid"][key] = CommentedSeq(items)
        sweep["grid"][key].fa.set_flow_style()
    sweep["grid"].fa.set_block_style()
    yamlio.dump(sweep, folder / "sweep.yaml")
    job = yamlio.load(TEMPLATES / "sweep-job.yaml")
    rounds = math.ceil(len(found) / parallel)
    job["spec"]["completions"] = len(found)
    job["spec"]["parallelism"] = parallel
    job["spec"]["activeDeadlineSeconds"] = yamlio.load(base / "train" / "job.yaml")["spec"]["activeDeadlineSeconds"] * rounds
    yamlio.dump(job, folder / "sweep-job.yaml")
