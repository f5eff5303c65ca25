"""train.yaml -> a plain dict: validated by the shared JSON Schema, defaults taken from its "default" values."""
import copy
import io
import json
from pathlib import Path

import jsonschema
from ruamel.yaml import YAML, YAMLError

SCHEMA_NAME = "train-config.schema.json"


class UsageError(Exception):
    """Bad input the user can fix; printed as `error: <what>; <how to fix>`, exit code 2.

    Takes one preformatted message too, so DataLoader workers can re-raise it in the main process."""

    def __init__(self, what: str, fix: str | None = None):
        super().__init__(what if fix is None else f"{what}; {fix}")


def schema_path() -> Path:
    # The image copies the schema next to the code; a checkout keeps it in <repo>/schemas.
    here = Path(__file__).resolve().parent
    beside = here / SCHEMA_NAME
    return beside if beside.exists() else here.parent / "schemas" / SCHEMA_NAME


def load_schema() -> dict:
    return json.loads(schema_path().read_text())


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
        value = YAML(typ="safe").load(raw) if raw.strip() else ""
    except YAMLError as e:
        raise UsageError(f"bad value in override {item!r}: {str(e).splitlines()[0]}", "quote it or fix the YAML") from None
    node = cfg
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UsageError(f"override {item!r}: {part!r} is not a section", "override a key inside a section")
    node[leaf] = value


def _describe(err: jsonschema.ValidationError) -> str:
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
        raise UsageError(f"{source}: {_describe(err)}", f"fix it (schema: schemas/{SCHEMA_NAME})")


def load(path: str | Path | None, overrides=(), text: str | None = None) -> dict:
    """Read train.yaml (or `text`), apply overrides, validate, fill defaults. Raises UsageError."""
    source = str(path) if path is not None else "config"
    if text is None:
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise UsageError(f"cannot read config {source}: {e.strerror}", "pass --config PATH to an existing train.yaml") from None
    try:
        cfg = YAML(typ="safe").load(io.StringIO(text))
    except YAMLError as e:
        first = " ".join(str(e).split())[:200]
        raise UsageError(f"{source} is not valid YAML: {first}", "fix the YAML syntax") from None
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise UsageError(f"{source} must be a mapping at the top level", "start it with `dataset:` and friends")
    for item in overrides:
        parse_override(cfg, item)
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
