"""train.yaml -> a plain dict: validated by the shared JSON Schema, defaults taken from its "default" values."""
import copy
import io
import json
import math
from pathlib import Path

import jsonschema
from ruamel.yaml import YAML

from . import safe_yaml
from .errors import UsageError

SCHEMA_NAME = "train-config.schema.json"


def schema_path(name: str = SCHEMA_NAME) -> Path:
    # The image copies the schemas next to the code; a checkout keeps them in <repo>/schemas.
    here = Path(__file__).resolve().parent
    beside = here / name
    return beside if beside.exists() else here.parent / "schemas" / name


def load_schema(name: str = SCHEMA_NAME) -> dict:
    return json.loads(schema_path(name).read_text())


def fill_defaults(schema: dict, data: dict) -> dict:
    """Recursively add every missing key that has a schema default; sub-objects are created when absent."""
    for key, sub in schema.get("properties", {}).items():
        if key not in data and "default" in sub:
            data[key] = copy.deepcopy(sub["default"])
        elif "properties" in sub and (key in data or not sub.get("required")):
            if isinstance(data.setdefault(key, {}), dict):
                fill_defaults(sub, data[key])
    return data


def parse_override(cfg: dict, item: str) -> None:
    """Apply one `--set a.b=value`; the value is read as YAML (1e-3, true, null, "text")."""
    key, sep, raw = item.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise UsageError(f"bad override {item!r}", "write it as --set section.key=value, e.g. --set train.lr=0.001")
    try:
        value = safe_yaml.load(raw, f"override {item[:80]!r}") if raw.strip() else ""
    except safe_yaml.YAMLInputError as e:
        raise UsageError(f"bad value in {e.what}", "quote it or fix the YAML") from None
    set_key(cfg, key, value, lambda part: UsageError(f"override {item!r}: {part!r} is not a section",
                                                     "override a key inside a section"))


def set_key(tree: dict, key: str, value, not_a_section) -> None:
    """tree["a"]["b"]["c"] = value for key "a.b.c", adding missing sections; raises not_a_section(part) where
    a part on the way holds something other than a mapping. `--set` and sweep variants both set keys so."""
    node = tree
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise not_a_section(part)
    node[leaf] = value


def describe(err: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in err.absolute_path)
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        names = ", ".join(f"{where + '.' if where else ''}{k}" for k in extra)
        allowed = ", ".join(err.schema.get("properties", {}))
        return f"unknown key {names} (allowed here: {allowed})"
    return f"{where or 'top level'}: {err.message}"


def validate(cfg: dict, schema: dict, source: str) -> None:
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(cfg), key=lambda e: list(e.absolute_path))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        raise UsageError(f"{source}: {describe(err)}", f"fix it (schema: schemas/{SCHEMA_NAME})")


def nonfinite(node, key: str = ""):
    """(dotted key, value) of the first NaN or infinity in node, else None. Every schema bound compares
    false with NaN (`.nan > 0` is False) and infinity passes a lower bound, so they are refused here."""
    if isinstance(node, float) and not math.isfinite(node):
        return key, node
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, value in items:
        if found := nonfinite(value, f"{key}.{k}" if key else str(k)):
            return found
    return None


def load(path: str | Path | None, overrides=(), text: str | None = None) -> dict:
    """Read train.yaml (or `text`), apply overrides, validate, fill defaults. Raises UsageError."""
    source = str(path) if path is not None else "config"
    # bounded: size, depth and alias expansion (an alias bomb fails in milliseconds), UTF-8, no FIFO
    cfg = safe_yaml.load(safe_yaml.read_text(path, source) if text is None else text, source)
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise UsageError(f"{source} must be a mapping at the top level", "start it with `dataset:` and friends")
    for item in overrides:
        parse_override(cfg, item)
    if found := nonfinite(cfg):
        raise UsageError(f"{source}: {found[0]} is {found[1]}, not a finite number", "write a plain number such as 0.0002")
    schema = load_schema()
    validate(cfg, schema, source)
    fill_defaults(schema, cfg)
    validate(cfg, schema, source)  # defaults themselves must be valid (guards a bad schema edit)
    return cfg


def dump(cfg: dict) -> str:
    yaml = YAML()
    yaml.default_flow_style = False
    buf = io.StringIO()
    yaml.dump(cfg, buf)
    return buf.getvalue()
