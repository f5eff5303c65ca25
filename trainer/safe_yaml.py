"""YAML from untrusted sources (manifests, overlays, train.yaml, stdin), read with bounds.

One loader for the `nautilus` CLI and the trainer alike (torch-free: the CLI imports it from here). It
bounds the input's size, its nesting depth and its node count with every alias expanded, so an alias
bomb anywhere (a container's command, a ConfigMap's train.yaml, a --config file) fails in milliseconds
instead of exhausting memory in whatever walks the result. The limits are the constants below: far above
any real manifest or config (a rendered overlay is ~10 KB, ~1,000 nodes, depth ~12).

Every failure is one YAMLInputError whose message is a single line: `what` and `fix`.
"""
import os
import stat
import sys

from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.events import (AliasEvent, CollectionEndEvent, CollectionStartEvent, DocumentStartEvent,
                                ScalarEvent)

from .errors import UsageError, one_line

MAX_BYTES = 8 * 2**20       # a file, stdin, or kustomize's output
MAX_DEPTH = 64              # nested mappings and lists (Kubernetes objects nest about 12 deep)
MAX_NODES = 100_000         # per document: scalars and collections, each alias counted as a copy of what it names
MAX_STREAM_NODES = 1_000_000  # per stream, as written: many small documents (the byte bound caps it near 4 million)


class YAMLInputError(UsageError, ValueError):
    """Input that is too big, too deep, too expanded, not UTF-8, or not YAML; str() is one line.
    Also a ValueError, for callers that catch that."""


def read_text(path, source: str | None = None, max_bytes: int = MAX_BYTES) -> str:
    """A regular file (or `-`: stdin) as UTF-8 text of at most max_bytes; never blocks on a FIFO or device."""
    source = source or str(path)
    if str(path) == "-":
        data = sys.stdin.buffer.read(max_bytes + 1)
    else:
        try:
            handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise YAMLInputError(f"cannot read {source} ({exc.strerror})", "pass a readable YAML file") from None
        try:
            if not stat.S_ISREG(os.fstat(handle).st_mode):
                raise YAMLInputError(f"{source} is not a regular file", "pass a YAML file, or `-` to read stdin")
            with os.fdopen(handle, "rb", closefd=False) as stream:
                data = stream.read(max_bytes + 1)
        except OSError as exc:
            raise YAMLInputError(f"cannot read {source} ({exc.strerror})", "pass a readable YAML file") from None
        finally:
            os.close(handle)
    return decode(data, source, max_bytes)


def decode(data: bytes, source: str, max_bytes: int = MAX_BYTES) -> str:
    if len(data) > max_bytes:
        raise YAMLInputError(f"{source} is larger than {max_bytes // 2**20} MiB", "split it into smaller files")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YAMLInputError(f"{source} is not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x})",
                             "save it as UTF-8") from None


class _Constructor(SafeConstructor):
    """Safe types; a date-like scalar stays the string it is to Kubernetes (and serialises as JSON)."""


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)


def _yaml() -> YAML:
    yaml = YAML(typ="safe")
    yaml.Constructor = _Constructor
    return yaml


def _check_bounds(text: str, source: str, max_depth: int, max_nodes: int) -> None:
    """One streaming pass over the parser's events (the parser itself does not recurse): stops at the
    first node past max_depth, at a document past max_nodes counting an alias as the subtree it names, or
    at a stream past MAX_STREAM_NODES as written. A long stream of small documents is not an alias bomb:
    it is bounded by the byte bound and MAX_STREAM_NODES, not by max_nodes."""
    nodes = copied = written = document = 0  # per document: nodes with aliases expanded, nodes aliases add
    open_ = []          # per open collection: [nodes before it, anchor, height of its deepest child]
    anchors = {}        # anchor -> (nodes, height) of the subtree it names, per document

    def add(count: int, height: int, alias: bool = False) -> None:
        nonlocal nodes, copied, written
        nodes, written = nodes + count, written + 1
        copied += count if alias else 0
        if nodes > max_nodes:
            raise _too_many(source, document, max_nodes, copied)
        if written > MAX_STREAM_NODES:
            raise YAMLInputError(f"{source} holds more than {MAX_STREAM_NODES:,} YAML nodes", "split it into smaller files")
        if len(open_) + height > max_depth:
            raise YAMLInputError(f"{source} nests deeper than {max_depth} levels", "flatten it")
        if open_:
            open_[-1][2] = max(open_[-1][2], height)

    for event in _yaml().parse(text):
        if isinstance(event, DocumentStartEvent):
            anchors.clear()
            nodes, copied, document = 0, 0, document + 1
        elif isinstance(event, ScalarEvent):
            add(1, 0)
            if event.anchor:
                anchors[event.anchor] = (1, 0)
        elif isinstance(event, AliasEvent):
            add(*anchors.get(event.anchor, (1, 0)), alias=True)  # an undefined alias: the loader reports it below
        elif isinstance(event, CollectionStartEvent):
            add(1, 1)
            open_.append([nodes - 1, event.anchor, 0])
        elif isinstance(event, CollectionEndEvent):
            start, anchor, height = open_.pop()
            if open_:
                open_[-1][2] = max(open_[-1][2], height + 1)
            if anchor:
                anchors[anchor] = (nodes - start, height + 1)


def _too_many(source: str, document: int, max_nodes: int, copied: int) -> YAMLInputError:
    """The node bound's message: aliases blamed only where they add the nodes."""
    where = f"{source}" if document <= 1 else f"{source} document {document}"
    if copied:
        return YAMLInputError(f"{where} expands to more than {max_nodes:,} YAML nodes (anchors and aliases counted "
                              f"as copies: {copied:,} of them are copies)", "remove the aliases that multiply it")
    return YAMLInputError(f"{where} holds more than {max_nodes:,} YAML nodes in one document",
                          "split it into several documents or files")


def _describe(exc: YAMLError, source: str) -> YAMLInputError:
    mark = getattr(exc, "problem_mark", None)
    where = f" line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
    if hasattr(exc, "character"):  # ReaderError: a character YAML forbids (NUL, other controls)
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        problem = f"character {char!r} at position {exc.position} is not allowed"
    else:
        problem = getattr(exc, "problem", None) or str(exc)
    return YAMLInputError(f"{source}{where}: not valid YAML ({problem})", "fix the YAML")


def load_all(text: str, source: str = "<input>", max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> list:
    """Every document of text (None for an empty one), within the bounds; YAMLInputError otherwise."""
    if len(text) > MAX_BYTES:
        raise YAMLInputError(f"{source} is larger than {MAX_BYTES // 2**20} MiB", "split it into smaller files")
    try:
        _check_bounds(text, source, max_depth, max_nodes)
        return list(_yaml().load_all(text))
    except YAMLInputError:
        raise
    except YAMLError as exc:
        raise _describe(exc, source) from None
    except ValueError:  # an integer past int()'s digit limit (4,300 digits), seen only when constructing it
        raise YAMLInputError(f"{source} holds a number too long to read", "write numbers of at most 20 digits") from None
    except RecursionError:  # pragma: no cover - the depth bound keeps the constructor far from the limit
        raise YAMLInputError(f"{source} nests too deep", "flatten it") from None


def load(text: str, source: str = "<input>", **bounds):
    """The single document of text (None when empty); YAMLInputError on more than one or on any bound."""
    docs = load_all(text, source, **bounds)
    if len(docs) > 1:
        raise YAMLInputError(f"{source} holds {len(docs)} YAML documents", "keep one document (no `---` separators)")
    return docs[0] if docs else None
