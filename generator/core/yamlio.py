"""ruamel.yaml round-trip in kustomize's own layout: comments and key order kept, 2-space maps, flush lists."""
import re
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import DoubleQuotedScalarString


def _yaml() -> YAML:
    yaml = YAML()
    yaml.indent(mapping=2, sequence=2, offset=0)
    yaml.width = 4096
    yaml.preserve_quotes = True
    return yaml


def load(path: Path):
    return _yaml().load(Path(path))


def dump(doc, path: Path) -> None:
    with open(path, "w") as stream:
        _yaml().dump(doc, stream)


def text(value: str):
    """value as a YAML string: quoted only where it would read as a number ("10"), as kustomize writes it."""
    return DoubleQuotedScalarString(value) if re.fullmatch(r"[-+0-9.eE]+", value) else value
