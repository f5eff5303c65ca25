"""Does a value look like a credential? Known token formats anywhere in it, or a long random value under a
secret-like name (also `NAME=value` / `name: value` lines inside a file held in a ConfigMap). Findings
name the key, never the value. The formats and thresholds are data (schemas/policy.yaml `secrets:`)."""
import math
import re
from collections import Counter
from functools import cache

from generator.core.schemas import policy

_PAIR = re.compile(r"""^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*[:=]\s*["']?([^\s"']+)["']?\s*$""")
_NOT_A_SECRET = re.compile(r"^(/|\./|~/)|://|\$\(|\$\{")  # paths, URLs, references to other variables


def _settings() -> dict:
    return policy()["secrets"]


@cache
def _formats(items: tuple) -> list:
    return [(what, re.compile(pattern)) for what, pattern in items]


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _secret_like_name(name: str) -> bool:
    words = " " + " ".join(re.findall(r"[a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", name).lower())) + " "
    return any(f" {word} " in words for word in _settings()["name_words"])


def _random_token(value: str) -> bool:
    settings = _settings()
    return (len(value) >= settings["min_length"] and not re.search(r"\s", value) and not _NOT_A_SECRET.search(value)
            and re.search(r"[A-Za-z]", value) is not None and re.search(r"\d", value) is not None
            and _entropy(value) >= settings["min_entropy"])


def credentials(name: str, value) -> list[str]:
    """What credentials the value under this name seems to hold ("a GitHub token", ...), none when clean."""
    if not isinstance(value, str) or not value:
        return []
    found = [what for what, pattern in _formats(tuple(_settings()["formats"].items())) if pattern.search(value)]
    if not found and _secret_like_name(name) and _random_token(value.strip()):
        found.append("a long random value under a secret-like name")
    if not found and "\n" in value:  # a file: its NAME=value lines
        for line in value.splitlines():
            pair = _PAIR.match(line)
            if pair and _secret_like_name(pair[1]) and _random_token(pair[2]):
                found.append(f"a long random value under {pair[1]}")
    return found
