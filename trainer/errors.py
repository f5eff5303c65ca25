"""The one error type of both command lines (`nautilus` and the trainer's entry points), and their exit codes.

A UsageError is a failure the user can fix. It carries what is wrong and how to fix it, and prints as one
line, `error: <what>; <fix>`. Standard library only: the CLI installs without PyTorch and imports this.

Exit codes, the same for every command (docs/conventions.md):
  0  done (for `nautilus validate`: no error findings)
  1  the input was read and judged: `nautilus validate` found errors, a drift check found drift
  2  bad input, a UsageError: nothing was written
  3  unexpected: a bug or a case nobody foresaw (NAUTILUS_DEBUG=1 shows the traceback)
  130 interrupted
"""
import re

OK, FINDINGS, USAGE, UNEXPECTED, INTERRUPTED = 0, 1, 2, 3, 130
DEBUG_ENV = "NAUTILUS_DEBUG"


def one_line(text) -> str:
    """text on one printable line: runs of whitespace become one space, other control characters escapes."""
    text = " ".join(str(text).split())
    return re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda m: f"\\x{ord(m[0]):02x}", text)


class UsageError(Exception):
    """Bad input the user can fix. `fix` may be omitted when `what` is a message already formatted as
    `<what>; <fix>` (a DataLoader worker's error re-raised in the main process)."""
    exit_code = USAGE

    def __init__(self, what: str, fix: str | None = None):
        self.what, self.fix = one_line(what), None if fix is None else one_line(fix)
        super().__init__(self.what if self.fix is None else f"{self.what}; {self.fix}")
