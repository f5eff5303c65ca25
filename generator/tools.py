"""Locate the pinned external tools: the repository's .tools/bin first (make tools), then PATH."""
import shutil

from .errors import UsageError
from . import repo


def find_tool(name: str, required: bool = True) -> str | None:
    tools = repo.tools_bin()
    if tools is not None and (tools / name).is_file():
        return str(tools / name)
    found = shutil.which(name)
    if found is None and required:
        raise UsageError(f"{name} is not installed", "run `make tools` (installs the pinned version into .tools/bin)")
    return found
