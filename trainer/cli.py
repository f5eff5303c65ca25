"""How every trainer entry point (train, prepare, translate) ends on an error: one line and an exit code.

UsageError, and the OSErrors trainer.volume recognises (a full or read-only volume), are the user's to fix:
`error: <what>; <how to fix>`, exit 2. Anything else is a bug or a case nobody foresaw: one line as well,
exit 1, with NAUTILUS_DEBUG=1 showing the traceback. This is the safety net only: each known bad input
has its own check where it enters.
"""
import argparse
import os
import sys

from . import volume
from .config import UsageError

DEBUG = "NAUTILUS_DEBUG"


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's usage block and exit code 2, as one line
        print(f"error: {message}; see {self.prog} --help", file=sys.stderr)
        sys.exit(2)


def run(body) -> int:
    """body()'s exit code; what it raises becomes one `error:` line on stderr."""
    try:
        return body()
    except UsageError as e:
        return _fail(_last_line(e), 2)
    except OSError as e:
        if e.errno in volume.FULL:  # wherever it happened: a full volume is the user's to fix
            return _fail(str(volume.problem(e, e.filename)), 2)
        if os.environ.get(DEBUG):
            raise
        return _fail(f"{e.strerror or e}{f' ({e.filename})' if e.filename else ''}; check the volume and re-run "
                     f"(set {DEBUG}=1 for the traceback)", 1)
    except KeyboardInterrupt:
        return _fail("interrupted; re-run the same command to continue", 130)
    except Exception as e:
        if os.environ.get(DEBUG):
            raise
        return _fail(f"unexpected {e.__class__.__name__}: {_last_line(e)[:300]}; re-run with {DEBUG}=1 for the "
                     f"traceback and report it", 1)


def _last_line(e: BaseException) -> str:
    # From a DataLoader worker the message carries the worker's traceback: its last line is the error.
    lines = str(e).strip().splitlines() or [""]
    return lines[-1].removeprefix("trainer.config.UsageError: ").removeprefix("trainer.finite.Diverged: ")


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return code
