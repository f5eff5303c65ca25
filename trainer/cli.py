"""How every trainer entry point ends on an error: one line and an exit code (trainer/errors.py).

Used by each `python -m` entry point: trainer.train, trainer.prepare, trainer.translate, trainer.sweep and
trainer.compare. A UsageError, and the OSErrors trainer.volume recognises (a full or read-only volume), are
the user's to fix: `error: <what>; <how to fix>`, exit 2. Anything else is a bug or a case nobody foresaw:
one line as well, exit 3 (NAUTILUS_DEBUG=1 prints the traceback instead, same exit code). Interrupted:
exit 130. This is the safety net only: each known bad input has its own check where it enters.
"""
import argparse
import os
import sys
import traceback

from . import volume
from .errors import DEBUG_ENV as DEBUG, INTERRUPTED, UNEXPECTED, USAGE, UsageError


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's usage block and exit code 2, as one line
        print(f"error: {message}; see {self.prog} --help", file=sys.stderr)
        sys.exit(USAGE)


def run(body) -> int:
    """body()'s exit code; what it raises becomes one `error:` line on stderr."""
    try:
        return body()
    except UsageError as e:
        return _fail(_last_line(e), USAGE)
    except OSError as e:
        if e.errno in volume.FULL:  # wherever it happened: a full volume is the user's to fix
            return _fail(str(volume.problem(e, e.filename)), USAGE)
        return _unexpected(f"{e.strerror or e}{f' ({e.filename})' if e.filename else ''}; check the volume and re-run "
                           f"(set {DEBUG}=1 for the traceback)")
    except KeyboardInterrupt:
        return _fail("interrupted; re-run the same command to continue", INTERRUPTED)
    except Exception as e:
        return _unexpected(f"unexpected {e.__class__.__name__}: {_last_line(e)[:300]}; re-run with {DEBUG}=1 for the "
                           f"traceback and report it")


def _last_line(e: BaseException) -> str:
    # From a DataLoader worker the message carries the worker's traceback, whose last line is
    # `<module>.<class>: <the error>`; a UsageError has joined those lines into one.
    text = (str(e).strip().splitlines() or [""])[-1]
    return text.rpartition(f"{type(e).__module__}.{type(e).__qualname__}: ")[2]


def _unexpected(message: str) -> int:
    if os.environ.get(DEBUG):  # the traceback instead of the line; the exit code stays 3
        traceback.print_exc()
        return UNEXPECTED
    return _fail(message, UNEXPECTED)


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return code
