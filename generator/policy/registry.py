"""Coded rules register here by id; schemas/rules.yaml says where and how severe each one is."""
from collections.abc import Callable, Iterable

# id -> function(target, workload) yielding one detail per violation (what is wrong, with the numbers)
CODED: dict[str, Callable[..., Iterable[str]]] = {}


def coded(rule_id: str):
    def register(function):
        CODED[rule_id] = function
        return function
    return register
