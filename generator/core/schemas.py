"""The rule table and the NRP numbers, read once per schemas/ folder (the repository's own, see repo.py)."""
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ruamel.yaml import YAML

from generator.core import repo


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    check: str
    target: str
    page: str
    why: str
    fix: str
    kinds: tuple[str, ...] = ()

    def applies_to(self, kind: str) -> bool:
        return not self.kinds or kind in self.kinds


@cache
def _read(path: Path):
    return json.loads(path.read_text()) if path.suffix == ".json" else YAML(typ="safe").load(path.read_text())


@cache
def _rules(path: Path) -> dict[str, Rule]:
    return {row["id"]: Rule(**{**row, "kinds": tuple(row.get("kinds", ()))}) for row in _read(path)}


def rules() -> dict[str, Rule]:
    return _rules(repo.schemas() / "rules.yaml")


def policy() -> dict:
    return _read(repo.schemas() / "policy.yaml")


def limit(name: str):
    """policy.yaml's limits.<name>; the package's own value when the repository's policy.yaml predates it."""
    own = policy()["limits"]
    return own[name] if name in own else _read(repo.PACKAGED_SCHEMAS / "policy.yaml")["limits"][name]


def sizing() -> dict:
    return _read(repo.schemas() / "sizing.yaml")


def rule_schemas() -> dict:
    return _read(repo.schemas() / "policy-rules.schema.json")


def train_config_schema() -> dict:
    return _read(repo.schemas() / "train-config.schema.json")


def sweep_schema() -> dict:
    return _read(repo.schemas() / "sweep.schema.json")


def annotation(name: str) -> str:
    """An annotation's full name from policy.yaml (`annotations:`)."""
    return policy()["annotations"][name]
