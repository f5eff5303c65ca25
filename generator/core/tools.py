"""Locate the pinned external tools (the repository's .tools/bin first, then PATH) and run them bounded:
a time limit, a cap on what they print, and, unless fetching is allowed, an environment without network."""
import os
import selectors
import shutil
import signal
import subprocess
import time

from generator.core import repo
from trainer.errors import UsageError
from trainer.safe_yaml import MAX_BYTES

# Proxies that refuse every connection, git restricted to local repositories, no credentials or prompts:
# a fetch that the remote-resource check did not foresee fails at once instead of reaching the network.
DEAD_PROXY = "http://127.0.0.1:9"
OFFLINE_ENV = {
    **{name: DEAD_PROXY for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")},
    "NO_PROXY": "", "no_proxy": "", "GIT_ALLOW_PROTOCOL": "file", "GIT_TERMINAL_PROMPT": "0", "GIT_SSH_COMMAND": "false",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "HOME": os.devnull,
}


def find_tool(name: str, required: bool = True) -> str | None:
    tools = repo.tools_bin()
    if tools is not None and (tools / name).is_file():
        return str(tools / name)
    found = shutil.which(name)
    if found is None and required:
        raise UsageError(f"{name} is not installed", "run `make tools` (installs the pinned version into .tools/bin)")
    return found


def offline_env() -> dict[str, str]:
    """Only what a tool needs to run (PATH, locale, temp folder) plus OFFLINE_ENV: no tokens, no agents."""
    kept = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TMPDIR", "TZ")}
    return {**kept, **OFFLINE_ENV}


def run(command: list[str], seconds: float, what: str, offline: bool = True,
        max_bytes: int = MAX_BYTES) -> subprocess.CompletedProcess:
    """command's exit code and output (text); UsageError when it runs past seconds or prints more than
    max_bytes. It runs in its own process group, so whatever it started (git) is stopped with it."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=offline_env() if offline else None, start_new_session=True)
    output = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    deadline = time.monotonic() + seconds
    problem = None
    with selectors.DefaultSelector() as selector:
        for stream in output:
            selector.register(stream, selectors.EVENT_READ)
        while selector.get_map() and problem is None:
            left = deadline - time.monotonic()
            if left <= 0:
                problem = (f"{what} ran longer than {seconds:g} s", "look for a loop or a remote resource in it")
                break
            for key, _ in selector.select(left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                output[key.fileobj] += chunk
                if len(output[key.fileobj]) > max_bytes:
                    problem = (f"{what} printed more than {max_bytes // 2**20} MiB", "split it into smaller overlays")
    if problem:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    for stream in output:
        stream.close()
    if problem:
        raise UsageError(*problem)
    out, err = (bytes(b).decode("utf-8", "replace") for b in output.values())
    return subprocess.CompletedProcess(command, proc.returncode, out, err)
