"""The report's rows of each source, kept in the render cache (render/cache.py) and keyed like its checks
(policy/check_cache.py: the source's text, the rules as read, nautilus's code and libraries), so that an
overlay that did not change costs no schema validation."""
from fractions import Fraction

from generator.core.schemas import policy
from generator.policy import check_cache
from generator.render import cache
from generator.review.inventory import Row, rows

AMOUNTS = ("gpus", "cpu", "memory", "storage", "gpu_hours")


def _plain(value):
    return {"fraction": str(value)} if isinstance(value, Fraction) else value


def _value(value):
    return Fraction(value["fraction"]) if isinstance(value, dict) else value


def _encode(found: list[Row]) -> dict | None:
    data = [{"cells": r.cells, "key": list(r.key), **{a: _plain(getattr(r, a)) for a in AMOUNTS}} for r in found]
    return {"rows": data} if cache.exact(data) else None


def _decode(body: dict) -> list[Row] | None:
    try:
        return [Row(r["cells"], key=tuple(r["key"]), **{a: _value(r[a]) for a in AMOUNTS}) for r in body["rows"]]
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def all_rows(loaded) -> dict[str, list[Row]]:
    """{label: inventory.rows(source)} for every source, from the cache where it holds them."""
    keys = check_cache.keys(loaded, str(policy()["kubernetes_version"]), False, kind="rows")
    where = cache.folder() if keys else None
    found = {}
    for source in loaded:
        hit = cache.get(where, keys[source.label]) if keys else None
        found[source.label] = _decode(hit) if hit is not None else None
        if found[source.label] is None:
            found[source.label] = rows(source)
            if keys and (body := _encode(found[source.label])) is not None:
                cache.put(where, keys[source.label], body)
    return found
