"""The one gate for untrusted input: files, JSON, PNG headers, numbers and environment variables.

Untrusted is whatever a user, a preempted pod or another process may have left: a sweep.yaml, a usage.json,
a variant.json, a dataset's LATEST and manifest.json, a replacement journal, sample images, event files,
command-line numbers and the variables of a pod's environment. Every reader here

- opens without blocking (a FIFO or a device never hangs it) and accepts regular files only;
- reads at most its byte bound (one byte more, to tell that the file is larger);
- bounds JSON's nesting depth, a PNG's pixels (from its header, before any decoding) and a number's digits;
- refuses what makes no sense: non-ASCII digits (`²`, `٣`), NaN and infinities, values out of range;
- fails with one UsageError naming the source (file, flag or variable) and the fix.

Standard library only: the `nautilus` CLI installs without PyTorch and imports this. The bounds are the
constants below, far above anything the project writes itself. tests/hostile/test_gate_ast.py fails on a raw
read of a path or of an environment variable number elsewhere.
"""
import json
import math
import os
import re
import stat
import struct

from .errors import UsageError

MAX_JSON_BYTES = 2**20          # a usage.json or variant.json is ~1 KB, a dataset manifest ~100 KB
MAX_JSON_DEPTH = 16             # the project's JSON files nest 3 deep
MAX_DIGITS = 20                 # an int64 has 19; more is a typo or an attack, never a count
MAX_PNG_BYTES = 64 * 2**20      # a sample grid is ~1 MB
MAX_PNG_SIDE = 16_384           # pixels, either side
MAX_PNG_PIXELS = 2**26          # width x height: 64 Mpx, 256 MB decoded as RGBA
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(nan|inf|infinity)", re.IGNORECASE)


def _open(path, what: str, fix: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise UsageError(f"cannot read {what} ({exc.strerror})", fix) from None


def read_if_present(path, what: str, max_bytes: int, fix: str = "pass a regular file") -> str | None:
    """read_text, or None when path does not exist (a lock file another process may remove at any time)."""
    try:
        return read_text(path, what, max_bytes, fix)
    except UsageError:
        if not os.path.lexists(path):
            return None
        raise


def read_bytes(path, what: str, max_bytes: int, fix: str = "pass a regular file") -> bytes:
    """A regular file's content, at most max_bytes; never blocks on a FIFO or a device."""
    handle = _open(path, what, fix)
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            raise UsageError(f"{what} is not a regular file", fix)
        with os.fdopen(handle, "rb", closefd=False) as stream:
            data = stream.read(max_bytes + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {what} ({exc.strerror})", fix) from None
    finally:
        os.close(handle)
    if len(data) > max_bytes:
        raise UsageError(f"{what} is larger than {max_bytes:,} bytes", fix)
    return data


def regular_file(path, what: str, max_bytes: int, fix: str = "pass a regular file") -> int:
    """The size of a regular file of at most max_bytes, for readers that take a path (checked, not read)."""
    handle = _open(path, what, fix)
    try:
        info = os.fstat(handle)
    finally:
        os.close(handle)
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{what} is not a regular file", fix)
    if info.st_size > max_bytes:
        raise UsageError(f"{what} is larger than {max_bytes:,} bytes", fix)
    return info.st_size


def read_text(path, what: str, max_bytes: int, fix: str = "pass a regular UTF-8 text file") -> str:
    data = read_bytes(path, what, max_bytes, fix)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} is not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x})", fix) from None


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is not a finite number")
    return value


def parse_json(text: str, what: str, max_depth: int = MAX_JSON_DEPTH, fix: str = "pass the JSON file the tool wrote"):
    """JSON text (no NaN, no infinity, no number beyond float's range) nested at most max_depth deep."""
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite)
    except RecursionError:
        raise UsageError(f"{what} nests deeper than {max_depth} levels", fix) from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, a number past int()'s digit limit
        raise UsageError(f"{what} is not JSON ({str(exc).splitlines()[0][:120]})", fix) from None
    if depth(value) > max_depth:
        raise UsageError(f"{what} nests deeper than {max_depth} levels", fix)
    return value


def read_json(path, what: str, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH,
              fix: str = "pass the JSON file the tool wrote"):
    return parse_json(read_text(path, what, max_bytes, fix), what, max_depth, fix)


def depth(value) -> int:
    """How deep lists and objects nest in a JSON value (a scalar: 0), without recursion."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        node, level = pending.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is not None:
            deepest = max(deepest, level + 1)
            pending += [(child, level + 1) for child in children]
    return deepest


def mapping(value, what: str, fix: str) -> dict:
    """value when it is a JSON object; otherwise one UsageError (a list or a number where an object belongs)."""
    if not isinstance(value, dict):
        raise UsageError(f"{what} is a JSON {type(value).__name__}, not an object", fix)
    return value


def png_size(data: bytes, what: str, max_pixels: int = MAX_PNG_PIXELS, max_side: int = MAX_PNG_SIDE,
             fix: str = "replace or delete the image") -> tuple[int, int]:
    """(width, height) from a PNG's header, refused past the bounds before anything decodes it."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR" or len(data) < 24:
        raise UsageError(f"{what} is not a PNG image", fix)
    width, height = struct.unpack(">II", data[16:24])
    if not (0 < width <= max_side and 0 < height <= max_side and width * height <= max_pixels):
        raise UsageError(f"{what} is {width} x {height} pixels, more than {max_side} a side or {max_pixels:,} in all", fix)
    return width, height


def parse_int(text, what: str, low: int, high: int, fix: str | None = None) -> int:
    """A whole number in [low, high] written in ASCII digits, at most MAX_DIGITS of them (no spaces)."""
    text = str(text)
    fix = fix or f"write a whole number from {low} to {high}"
    if len(text) > MAX_DIGITS + 1 or not _INT.fullmatch(text):
        raise UsageError(f"{what} {_shown(text)} is not a whole number from {low} to {high}", fix)
    value = int(text)
    if not low <= value <= high:
        raise UsageError(f"{what} {_shown(text)} is not a whole number from {low} to {high}", fix)
    return value


def parse_float(text, what: str, low: float, high: float, finite: bool = True, fix: str | None = None) -> float:
    """A decimal number in [low, high] (ASCII, at most MAX_DIGITS digits before its exponent); NaN and
    infinities refused unless finite is False."""
    text = str(text)
    fix = fix or f"write a number from {low:g} to {high:g}"
    if len(text) > 2 * MAX_DIGITS or not _FLOAT.fullmatch(text):
        raise UsageError(f"{what} {_shown(text)} is not a number", fix)
    return number(float(text), what, low, high, finite, fix)


def number(value, what: str, low: float, high: float, finite: bool = True, fix: str | None = None) -> float:
    """A number already parsed (JSON, YAML): an int or float (not a bool) in [low, high], finite if asked."""
    fix = fix or f"write a number from {low:g} to {high:g}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{what} {_shown(value if isinstance(value, str) else repr(value))} is not a number", fix)
    if isinstance(value, int) and abs(value) >= 10**MAX_DIGITS:
        raise UsageError(f"{what} has more than {MAX_DIGITS} digits", fix)
    if finite and not math.isfinite(value):
        raise UsageError(f"{what} is {value}, not a finite number", fix)
    if not (low <= value <= high or (not finite and math.isnan(value))):
        raise UsageError(f"{what} {value:g} is not between {low:g} and {high:g}", fix)
    return value


def env_int(name: str, default: int, low: int, high: int, env=None, fix: str | None = None) -> int:
    """A whole-number environment variable (unset or empty: default); UsageError naming it otherwise."""
    value = (os.environ if env is None else env).get(name, "")
    return default if not value else parse_int(value, f"${name}", low, high, fix)


def env_float(name: str, default: float, low: float, high: float, env=None, fix: str | None = None) -> float:
    """A finite number from an environment variable (unset or empty: default)."""
    value = (os.environ if env is None else env).get(name, "")
    return default if not value else parse_float(value, f"${name}", low, high, True, fix)


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else f"{text[:20]}...{text[-8:]} ({len(text)} characters)")
