"""Kubernetes resource quantities (`500m`, `20Gi`, `1.5G`, `2e3`) as exact numbers, in Kubernetes' grammar
and range, and each resource's sane range (schemas/policy.yaml `quantities`), for `nautilus new` and
`nautilus validate` alike."""
import math
import re
import reprlib
from decimal import Decimal
from fractions import Fraction

_SUFFIX = {
    "": 1, "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000),
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}
# <signedNumber><suffix>, the suffix a binary or decimal SI one or an exponent (k8s.io/apimachinery resource).
# Leading zeros of an exponent do not count (1e003 is 1e3, as Kubernetes reads it); digits are ASCII ones.
# The exponent's digits start with a non-zero one, so the regex never backtracks through a run of zeros.
_QUANTITY = re.compile(r"(?P<sign>[+-]?)(?P<num>\d+(?:\.\d*)?|\.\d+)"
                       r"(?:[eE](?P<exp_sign>[+-]?)0*(?P<exp>[1-9]\d*|0)|(?P<suffix>[KMGTPE]i|[numkMGTPE])?)", re.ASCII)
LARGEST = 2**63 - 1              # Kubernetes keeps a quantity in an int64 of base units ...
FINEST = Fraction(1, 10**9)      # ... and nothing finer than 1n
EXAMPLES = "(examples: 500m, 4, 16Gi, 512Mi)"
_ECHO = reprlib.Repr()
_ECHO.maxstring = _ECHO.maxother = 60  # a message quotes at most this much of a (perhaps megabyte-long) value


def parse(value) -> Fraction:
    """The quantity as an exact Fraction of base units (cores, bytes); ValueError when it is not a
    Kubernetes quantity, negative, or beyond what Kubernetes can represent (`1e400`, `1e-400`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{_ECHO.repr(value)} is not a Kubernetes quantity {EXAMPLES}")
    if isinstance(value, float) and not math.isfinite(value):  # an unquoted 1e400 reads as inf
        raise ValueError(f"{_ECHO.repr(value)} is not a finite number: quote the amount, "
                         "and keep it within Kubernetes' range")
    text = repr(value) if isinstance(value, float) else str(value)
    match = _QUANTITY.fullmatch(text)
    if not match:
        raise ValueError(f"{_ECHO.repr(text)} is not a Kubernetes quantity {EXAMPLES}")
    if match["sign"] == "-" and Decimal(match["num"]):
        raise ValueError(f"{_ECHO.repr(text)} is negative")
    exponent = int(match["exp_sign"] + match["exp"]) if match["exp"] and len(match["exp"]) < 6 else None
    if match["exp"] and (exponent is None or abs(exponent) > 40):
        raise ValueError(f"{_ECHO.repr(text)} is beyond what Kubernetes can represent (1n to {LARGEST:.2e})")
    amount = Fraction(Decimal(match["num"])) * (Fraction(10) ** (exponent or 0)) * _SUFFIX[match["suffix"] or ""]
    if amount > LARGEST or 0 < amount < FINEST:
        raise ValueError(f"{_ECHO.repr(text)} is beyond what Kubernetes can represent (1n to {LARGEST:.2e})")
    return amount


def is_quantity(value) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


def problem(resource: str, value, ranges: dict) -> str | None:
    """What is wrong with value as an amount of resource (cpu, memory, storage, ...), or None. ranges:
    policy.yaml's `quantities` ({resource: [least, most]}); cpu comes in whole millicores."""
    try:
        amount = parse(value)
    except ValueError as exc:
        return str(exc)
    if resource not in ranges:
        return None
    least, most = ranges[resource]
    if not parse(least) <= amount <= parse(most):
        return (f"{_ECHO.repr(value)} is outside {least} to {most}, "
                f"the sane range for {resource} (policy.yaml quantities)")
    if resource == "cpu" and (amount * 1000).denominator != 1:
        return f"{_ECHO.repr(value)} is finer than a millicore (1m)"
    return None


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
