"""Sleep detection in exec-form commands and in `sh -c` / `bash -c` scripts."""
import pytest

from generator.policy.sleep import idle_reason

IDLE = [
    ["sleep", "infinity"],
    ["sleep", "3600"],
    ["/bin/sh", "-c", "python -m trainer.train; sleep infinity"],
    ["bash", "-ec", "python -m trainer.train\nsleep 600\n"],
    ["sh", "-c", "python -m trainer.train && exec sleep inf"],
    ["sh", "-c", "tail -f /dev/null"],
    ["bash", "-lc", "while true; do sleep 30; done"],
    ["sh", "-c", "while :; do date; sleep 1; done"],
    ["sh", "-c", "until false; do sleep 5; done"],
    ["sh", "-c", "bash -c 'sleep infinity'"],
    ["sh", "-c", "X=1 nohup sleep infinity"],
]
FINITE = [
    [],
    ["torchrun", "--nproc-per-node=gpu", "-m", "trainer.train"],
    ["sh", "-c", "sleep 10; python -m trainer.train"],
    ["sh", "-c", "echo 'sleep infinity'"],
    ["sh", "-c", "while true; do test -f /data/done && break; sleep 5; done; python x.py"],
    ["sh", "-c", "while [ ! -f /data/LATEST ]; do sleep 5; done; python x.py"],
    ["python", "-c", "import time; time.sleep(1)"],
    ["sh", "-c", "python - <<EOF\nprint(1)\nEOF"],
]


@pytest.mark.parametrize("command", IDLE, ids=[" ".join(c)[:40] for c in IDLE])
def test_idle_commands_are_found(command):
    assert idle_reason(command)


@pytest.mark.parametrize("command", FINITE, ids=[" ".join(c)[:40] or "empty" for c in FINITE])
def test_finite_commands_pass(command):
    assert idle_reason(command) is None
