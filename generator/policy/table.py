"""The rule table and the NRP numbers, read once from schemas/."""
import json
from dataclasses import dataclass
from functools import cache

from ruamel.yaml import YAML

from ..paths import POLICY, SCHEMAS

RULES_FILE = SCHEMAS / "rules.yaml"
RULE_SCHEMAS_FILE = SCHEMAS / "policy-rules.schema.json"
TRAIN_CONFIG_SCHEMA = SCHEMAS / "train-config.schema.json"


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


def _yaml(path):
    return YAML(typ="safe").load(path.read_text())


@cache
def rules() -> dict[str, Rule]:
    return {row["id"]: Rule(**{**row, "kinds": tuple(row.get("kinds", ()))}) for row in _yaml(RULES_FILE)}


@cache
def policy() -> dict:
    return _yaml(POLICY)


@cache
def rule_schemas() -> dict:
    return json.loads(RULE_SCHEMAS_FILE.read_text())


@cache
def train_config_schema() -> dict:
    return json.loads(TRAIN_CONFIG_SCHEMA.read_text())


def annotation(name: str) -> str:
    """An annotation's full name from policy.yaml (`annotations:`)."""
    return policy()["annotations"][name]
