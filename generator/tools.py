"""Locate the pinned external tools: .tools/bin first (make tools), then PATH."""
import shutil

from .errors import UsageError
from .paths import TOOLS_BIN


def find_tool(name: str, required: bool = True) -> str | None:
    local = TOOLS_BIN / name
    if local.is_file():
        return str(local)
    found = shutil.which(name)
    if found is None and required:
        raise UsageError(f"{name} is not installed", "run `make tools` (installs the pinned version into .tools/bin)")
    return found
