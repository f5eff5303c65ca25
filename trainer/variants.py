"""sweep.yaml -> the sweep's variants, each a name and the train.yaml keys it sets; pure Python (YAML and
JSON Schema), so the trainer image picks its variant and `nautilus` reviews the sweep with the same code.

Order: the grid's combinations (first key slowest, last key fastest), then the named variants. A variant's
position is its pod's completion index."""
import copy
import itertools
import math
import re
from dataclasses import dataclass

import jsonschema

from . import safe_yaml
from .config import describe, nonfinite, set_key
from .inputs import MAX_DIGITS
from .errors import UsageError

SWEEP_SCHEMA_NAME = "sweep.schema.json"
MAX_VARIANTS = 64
MAX_BYTES = 64 * 1024
UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class SweepError(UsageError, ValueError):
    """A sweep that cannot run; printed as `error: <what>; <how to fix>`. Also a ValueError, for callers that catch that."""


@dataclass(frozen=True)
class Variant:
    index: int    # the completion index of its pod
    name: str     # its folder under runs/<run>/
    values: dict  # dotted train.yaml key -> value

    def label(self, total: int) -> str:
        return f"variant {self.index + 1} of {total} ({self.name}, completion index {self.index})"


def read(text: str, source: str) -> dict:
    """sweep.yaml as a plain dict; SweepError when too big, not YAML or not a mapping."""
    if len(text.encode()) > MAX_BYTES:
        raise SweepError(f"{source} is over {MAX_BYTES // 1024} KiB", "a sweep lists a few keys and values")
    try:
        doc = safe_yaml.load(text, source)
    except safe_yaml.YAMLInputError as e:
        raise SweepError(e.what, e.fix) from None
    if not isinstance(doc, dict):
        raise SweepError(f"{source} must be a mapping with `grid:` and/or `variants:`", "see schemas/sweep.schema.json")
    return doc


def value_text(value) -> str:
    """A value as it reads in a variant's name and in tables: YAML's spelling (true, null, 0.0001)."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return repr(value) if isinstance(value, float) else str(value)


def grid_name(keys: list[str], values: tuple) -> str:
    return "-".join(UNSAFE.sub("_", f"{key.rsplit('.', 1)[-1]}{value_text(value)}") for key, value in zip(keys, values))


def expand(doc: dict, schema: dict, source: str = "sweep.yaml") -> list[Variant]:
    """The variants of a sweep document; SweepError naming the first problem."""
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        where = ".".join(str(p) for p in error.absolute_path) or "top level"
        wanted = error.schema.get("description") if isinstance(error.schema, dict) else None
        text = f"is not {wanted}" if wanted and error.validator in ("pattern", "not") else error.message
        raise SweepError(f"{source} {where}: {text}", f"fix it (schema: schemas/{SWEEP_SCHEMA_NAME})")
    numbers(doc, source)
    grid, named = doc.get("grid") or {}, doc.get("variants") or []
    total = (math.prod(len(v) for v in grid.values()) if grid else 0) + len(named)
    if total > MAX_VARIANTS:
        raise SweepError(f"{source} makes {total} variants, more than {MAX_VARIANTS}",
                         "sweep fewer values, or split it into several projects")
    if total == 0:
        raise SweepError(f"{source} declares no variant", "add `grid:` values or `variants:`")
    keys = list(grid)
    found = [Variant(i, grid_name(keys, combo), dict(zip(keys, combo)))
             for i, combo in enumerate(itertools.product(*grid.values()))] if grid else []
    found += [Variant(len(found) + i, v["name"], dict(v.get("set") or {})) for i, v in enumerate(named)]
    pattern = schema["$defs"]["name"]["pattern"]
    seen: dict[str, Variant] = {}
    for v in found:
        if not re.fullmatch(pattern, v.name):
            raise SweepError(f"{source}: {v.label(total)} has a name that is not a folder name of at most 63 characters",
                             "name the variants yourself under `variants:` (name and set)")
        if v.name in seen:
            raise SweepError(f"{source}: {v.label(total)} has the same name as variant {seen[v.name].index + 1}",
                             "give every variant its own name")
        seen[v.name] = v
    return found


def numbers(doc: dict, source: str) -> None:
    """SweepError at the first NaN, infinity or integer of more than MAX_DIGITS digits: every schema bound
    passes NaN, and a value the pods cannot use must fail where the sweep is written, not on a GPU."""
    if found := nonfinite(doc):
        raise SweepError(f"{source} {found[0]} is {found[1]}, not a finite number", "write a plain number such as 0.0002")
    pending = [doc]
    while pending:
        node = pending.pop()
        if isinstance(node, (dict, list)):
            pending += node.values() if isinstance(node, dict) else node
        elif type(node) is int and abs(node) >= 10**MAX_DIGITS:
            raise SweepError(f"{source} has a whole number of more than {MAX_DIGITS} digits", "write a number a key can take")


def apply(config: dict, variant: Variant) -> dict:
    """A copy of train.yaml's content with the variant's keys set."""
    merged = copy.deepcopy(config)
    for key, value in variant.values.items():
        set_key(merged, key, copy.deepcopy(value), lambda section: SweepError(
            f"{variant.name}: {key}: {section} is not a section of train.yaml", "set a key inside a section"))
    return merged


def problems(config: dict, variants: list[Variant], train_schema: dict) -> list[str]:
    """One line per schema error that a variant's keys bring into train.yaml, naming the variant and the key."""
    validator = jsonschema.Draft202012Validator(train_schema)

    def errors(cfg):
        return {describe(e) for e in validator.iter_errors(cfg)}
    own = errors(config)  # train.yaml's own errors are reported once, by its own check
    found = []
    for v in variants:
        try:
            merged = apply(config, v)
        except SweepError as e:
            found.append(f"{v.label(len(variants))}: {e.what}")
            continue
        found += [f"{v.label(len(variants))} {text}" for text in sorted(errors(merged) - own)]
    return found


def differing(variants: list[Variant]) -> list[str]:
    """The keys whose values are not the same in every variant, in the order they first appear."""
    keys = list(dict.fromkeys(k for v in variants for k in v.values))
    return [k for k in keys if len({value_text(v.values[k]) if k in v.values else None for v in variants}) > 1]
