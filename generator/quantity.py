"""Kubernetes resource quantities (`500m`, `20Gi`, `1.5G`, `2e3`) as exact numbers."""
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

_SUFFIX = {
    "": 1, "m": Fraction(1, 1000), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}
_QUANTITY = re.compile(r"^(?P<num>[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?)(?P<suffix>[a-zA-Z]*)$")


def parse(value) -> Fraction:
    """The quantity as an exact Fraction of base units (cores, bytes); ValueError when malformed."""
    if isinstance(value, bool):
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(Decimal(repr(value)))
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if not match or match["suffix"] not in _SUFFIX or ("e" in match["num"].lower() and match["suffix"]):
        raise ValueError(f"not a Kubernetes quantity: {value!r} (examples: 500m, 4, 16Gi, 512Mi)")
    try:
        number = Fraction(Decimal(match["num"]))
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"not a Kubernetes quantity: {value!r}") from exc
    return number * _SUFFIX[match["suffix"]]


def is_quantity(value) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


def gib(value) -> float:
    return float(parse(value) / 2**30)


def format_bytes(amount: Fraction) -> str:
    """The shortest exact binary form: 24Gi, 1536Mi, 1000 (plain bytes when no suffix divides)."""
    for suffix in ("Ti", "Gi", "Mi", "Ki"):
        unit = _SUFFIX[suffix]
        if amount and amount % unit == 0:
            return f"{int(amount / unit)}{suffix}"
    return str(int(amount))


def format_cpu(amount: Fraction) -> str:
    """Whole cores as `12`, otherwise millicores as `1500m`."""
    if amount.denominator == 1:
        return str(amount.numerator)
    return f"{int(amount * 1000)}m"
