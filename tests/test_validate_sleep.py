"""Sleep detection: exec-form commands and shell scripts read as a shell reads them, each verdict exact."""
import pytest

from generator.policy.sleep import verdict


def sh(script, shell="bash"):
    return [shell, "-c", script]


NEVER = "`sleep infinity` never ends"
LONG = "idles at least 21600 s, longer than NRP lets any pod idle"

# (command, why it idles or None, why it could not be checked or None)
VERDICTS = [
    # exec form
    ([], None, None),
    (["torchrun", "--nproc-per-node=gpu", "-m", "trainer.train"], None, None),
    (["sleep", "infinity"], NEVER, None),
    (["sleep", "Infinity"], "`sleep Infinity` never ends", None),
    (["sleep", "3600"], "the command ends in `sleep 3600` (idle until it ends)", None),
    (["sleep", "21599"], "the command ends in `sleep 21599` (idle until it ends)", None),
    (["sleep", "21600"], f"`sleep 21600` {LONG}", None),
    (["sleep", "6h"], f"`sleep 6h` {LONG}", None),
    (["sleep", "5h", "59m", "60s"], f"`sleep 5h 59m 60s` {LONG}", None),
    (["sleep", "5h", "59m", "59s"], "the command ends in `sleep 5h 59m 59s` (idle until it ends)", None),
    (["sleep", "359m", "59"], "the command ends in `sleep 359m 59` (idle until it ends)", None),
    (["sleep", "360m"], f"`sleep 360m` {LONG}", None),
    (["sleep", "0.249998d"], "the command ends in `sleep 0.249998d` (idle until it ends)", None),
    (["sleep", "0.25d"], f"`sleep 0.25d` {LONG}", None),
    (["sleep", "1e9"], f"`sleep 1e9` {LONG}", None),
    (["sleep", "$X"], "the command ends in `sleep $X` (idle until it ends)", None),
    (["tail", "-f", "/dev/null"], "`tail -f` never ends", None),
    (["tail", "-fn0", "/data/log"], "`tail -f` never ends", None),
    (["tail", "--follow=name", "/data/log"], "`tail -f` never ends", None),
    (["tail", "-n", "10", "/data/log"], None, None),
    (["exec", "sleep", "infinity"], NEVER, None),
    (["env", "A=1", "sleep", "inf"], "`sleep inf` never ends", None),
    (["nice", "-n", "5", "sleep", "inf"], "`sleep inf` never ends", None),
    (["nice", "-n", "5", "--", "sleep", "inf"], "`sleep inf` never ends", None),
    (["timeout", "60", "sleep", "infinity"], "the command ends in `timeout 60 ...` (idle until it ends)", None),
    (["timeout", "0", "sleep", "infinity"], NEVER, None),
    (["timeout", "-s", "KILL", "60", "python", "x.py"], None, None),
    (["timeout", "-s", "KILL"], None, None),
    (["timeout", "-s", "KILL", "60", "sleep", "infinity"], "the command ends in `timeout 60 ...` (idle until it ends)", None),
    (["timeout", "--foreground", "60", "python", "x.py"], None, None),
    (["timeout"], None, None),
    (["python", "-c", "import time; time.sleep(1)"], None, None),
    # shells and their options
    (["/bin/sh", "-c", "python -m trainer.train; sleep infinity"], NEVER, None),
    (["busybox", "sh", "-c", "sleep infinity"], NEVER, None),
    (["bash", "--login", "-c", "sleep infinity"], NEVER, None),
    (["bash", "-o", "pipefail", "-c", "sleep infinity"], NEVER, None),
    (["bash", "-ec", "python -m trainer.train\nsleep 600\n"], "the command ends in `sleep 600` (idle until it ends)", None),
    (["bash", "script.sh"], None, None),
    (["bash", "-c"], None, None),
    (["sh", "-e"], None, None),
    (["sh", "-e", "script.sh"], None, None),
    (["bash", "-o", "pipefail"], None, None),
    (["bash", "-e", "sleep infinity"], None, None),  # runs a file named "sleep infinity"
    (["bash", "--norc", "-c", "sleep infinity"], NEVER, None),
    (["sh", "-c", "sleep infinity", "argv0"], NEVER, None),
    (sh("sh -c 'sleep infinity' \"$NAME\""), NEVER, None),  # an argument known only at run time: $0 of the script
    (sh("sleep infinity", "zsh"), NEVER, None),
    (sh("bash -c 'sleep infinity'", "dash"), NEVER, None),
    # comments, continuations, quoting
    (sh("# set up\npip install x\nsleep infinity"), NEVER, None),
    (sh("python x  # then keep the pod\nsleep infinity"), NEVER, None),
    (sh("python x \\\n  && sleep infinity"), NEVER, None),
    (sh("echo a # sleep infinity"), None, None),
    (sh("echo 'sleep infinity'"), None, None),
    (sh('echo "sleep infinity"'), None, None),
    (sh("'sleep' \"infinity\""), NEVER, None),
    (sh("s\\leep infinity"), NEVER, None),
    (sh('"sleep" inf$X'), "the command ends in `sleep $...` (idle until it ends)", None),
    (sh('sleep "$T"'), "the command ends in `sleep $...` (idle until it ends)", None),
    (sh("sl'ee'p inf\"ini\"ty"), NEVER, None),
    (sh("python - <<EOF\nsleep infinity\nEOF\npython x"), None, None),
    # lists, pipelines, groups, background
    (sh("time command sleep infinity"), NEVER, None),
    (sh("(python x; sleep infinity)"), NEVER, None),
    (sh("{ python x; } || { tail -f /dev/null; }"), "`tail -f` never ends", None),
    (sh("python x | tail -f /dev/null"), "`tail -f` never ends", None),
    (sh("python x || sleep 600"), "the command ends in `sleep 600` (idle until it ends)", None),
    (sh("python x | sleep 600"), "the command ends in `sleep 600` (idle until it ends)", None),
    (sh("sleep 600 | cat"), None, None),  # a pipeline ends as its last command does
    (sh("sleep infinity && python x"), NEVER, None),
    (sh("sleep infinity <<< x"), NEVER, None),  # input is not an argument
    (sh("exit 1 || sleep infinity"), None, None),
    (sh('echo "$(sleep infinity)"'), NEVER, None),
    (sh("X=$(sleep infinity) python x"), NEVER, None),
    (sh("export X=$(sleep infinity)"), NEVER, None),
    (sh("[[ -n $(tail -f /dev/null) ]] && python x"), "`tail -f` never ends", None),
    (sh("python x | sleep 600 | cat"), None, None),
    (sh("! sleep infinity"), NEVER, None),
    (sh("sleep infinity & wait"), f"`wait` waits on a background command: {NEVER}", None),
    (sh("sleep infinity & python x"), None, None),
    (sh("python x && sleep 100 &"), None, None),
    (sh("exit 1; sleep infinity"), None, None),
    (sh("exec python x; sleep infinity"), None, None),
    (sh("python x\nexit $?\nsleep infinity"), None, None),
    (sh("(exit 1); sleep infinity"), NEVER, None),
    (sh("echo $(sleep infinity)"), NEVER, None),
    (sh("cat <(tail -f /dev/null)"), "`tail -f` never ends", None),
    # loops, branches, functions
    (sh("while true; do sleep 1; done"), "`while true` loops forever", None),
    (sh("while :; do x; done"), "`while :` loops forever", None),
    (sh("while [ 1 ]; do x; done"), "`while [ 1 ]` loops forever", None),
    (sh("while sleep 5; do x; done"), "`while sleep 5` loops forever", None),
    (sh("until false; do x; done"), "`until false` loops forever", None),
    (sh("while command true; do x; done"), "`while command true` loops forever", None),
    (sh("while true 2>/dev/null; do x; done"), "`while true 2>/dev/null` loops forever", None),
    (sh("until false >/dev/null; do x; done"), "`until false >/dev/null` loops forever", None),
    (sh("while false 2>&1; do x; done"), None, None),
    (sh("for ((;;)); do x; done"), "`for ((;;))` loops forever", None),
    (sh("for ((i=0;i<3;i++)); do x; done"), None, None),
    (sh("for i in 1 2; do sleep infinity; done"), NEVER, None),
    (sh("for i in 1 2; do x; done"), None, None),
    (sh("while 'true'; do x; done"), "`while 'true'` loops forever", None),
    (sh("python x\nwhile true; do y; done"), "`while true` loops forever", None),
    (sh("while true; false; do x; done"), None, None),  # the last command of the condition decides
    (sh("while ! false; do x; done"), None, None),
    (sh("while sleep $T; do x; done"), None, None),
    (sh("while true; do x || break; done"), None, None),
    (sh("while true; do exec x; done"), None, None),
    (sh("while [ ! -f /data/LATEST ]; do sleep 5; done; python x"), None, None),
    (sh("if x; then y; else sleep infinity; fi"), NEVER, None),
    (sh("if sleep 5; then python x; fi"), None, None),
    (sh("if sleep infinity; then x; fi"), NEVER, None),
    (sh("if x; then sleep 5; else y; fi"), "the command ends in `sleep 5` (idle until it ends)", None),
    (sh("if x; then y; elif z; then sleep 60; fi"), "the command ends in `sleep 60` (idle until it ends)", None),
    (sh("case $a in x) y;; *) sleep infinity;; esac"), NEVER, None),
    (sh("f() { sleep infinity; }; python x; f"), NEVER, None),
    (sh("f() { sleep infinity; }; python x"), None, None),
    # what cannot be checked is said, never a crash
    (sh("python x; if then fi"), None, "the script does not parse as a shell script near line 1; only the rest was checked"),
    (sh("python x\necho ok\necho \"unterminated"), None, "the script does not parse as a shell script near line 3; only the rest was checked"),
    (sh("true\n" * 13108), None, "the script is 65540 bytes, more than the 65536 checked"),
    (sh("true\n" * 13107), None, None),
    (sh("true\n" * 13107 + "x"), None, None),  # exactly 65536 bytes
    (sh("( " * 146 + "sleep infinity" + " )" * 146), NEVER, None),  # 146 subshells + 4 levels around them
    (sh("( " * 147 + "sleep infinity" + " )" * 147), None, "the script nests deeper than 150 levels"),
    (["timeout", "1"] * 149 + ["sleep", "infinity"], "the command ends in `timeout 1 ...` (idle until it ends)", None),
    (["timeout", "1"] * 150 + ["sleep", "infinity"], None, "the script nests deeper than 150 levels"),
    (sh("a|" * 501 + "a"), None, "the script has 501 `|`, more than the 500 checked"),
    (sh("a|" * 500 + "sleep infinity"), NEVER, None),
    (sh("sh -c 'sh -c \"sh -c sleep\"'"), "the command ends in `sleep` (idle until it ends)", None),  # 4 shells
    (sh("sh -c 'sh -c \"sh -c \\\"sh -c sleep\\\"\"'"), None, "scripts nest more than 4 shells deep"),
]


@pytest.mark.parametrize("command, idle, unchecked", VERDICTS, ids=[" ".join(c)[:50] or "empty" for c, _, _ in VERDICTS])
def test_verdict(command, idle, unchecked):
    found = verdict(command)
    assert (found.idle, found.unchecked) == (idle, unchecked)


def test_parse_time_is_bounded_by_the_repository_policy(tmp_path, monkeypatch):
    """A repository whose policy allows no parse time gets every script reported unchecked."""
    from kube_support import REPO
    (tmp_path / "base").mkdir()
    (tmp_path / "overlays").mkdir()
    (tmp_path / "schemas").mkdir()
    for name in ("rules.yaml", "policy-rules.schema.json", "train-config.schema.json"):
        (tmp_path / "schemas" / name).write_text((REPO / "schemas" / name).read_text())
    policy = (REPO / "schemas/policy.yaml").read_text()
    (tmp_path / "schemas/policy.yaml").write_text(policy.replace("max_parse_seconds: 1", "max_parse_seconds: 0"))
    monkeypatch.chdir(tmp_path)
    short = verdict(sh("python z; sleep infinity"))  # parsed before the parser looks at the clock: too slow all the same
    assert (short.idle, short.unchecked) == (None, "the script took longer than 0 s to parse")
    long_script = "python x\n" * 6000 + "sleep infinity"  # long enough for the parser to be cancelled midway
    found = verdict(sh(long_script))
    assert (found.idle, found.unchecked) == (None, "the script took longer than 0 s to parse")
    monkeypatch.chdir(REPO)  # the parser starts afresh after a cancelled parse
    assert verdict(sh("python y; sleep infinity")) == verdict(["sleep", "infinity"])
    assert verdict(sh(long_script)).idle == NEVER
