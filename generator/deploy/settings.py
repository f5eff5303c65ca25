"""gitops.yaml, read once."""
from functools import cache
from pathlib import Path

from ruamel.yaml import YAML


@cache
def settings() -> dict:
    return YAML(typ="safe").load((Path(__file__).with_name("gitops.yaml")).read_text())


def kind_of(resource: str) -> str:
    return next(kind for kind, spec in settings()["kinds"].items() if spec["resource"] == resource)
