"""Does a container's command idle forever? Exec form and `sh -c` / `bash -c` scripts."""
import os
import re
import shlex

SHELLS = {"sh", "bash", "ash", "dash", "zsh", "ksh"}
SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", ";;", "{", "}"}
PREFIXES = {"exec", "nohup", "command", "time", "builtin"}
FOREVER_WORDS = {"infinity", "inf"}
ENDLESS_CONDITIONS = (["true"], [":"], ["[", "1", "]"], ["/bin/true"])
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def idle_reason(command: list[str]) -> str | None:
    """Why this argv never ends or ends idle (`sleep infinity`, ...), or None when it looks finite."""
    words = [str(w) for w in command]
    if not words:
        return None
    script = _shell_script(words)
    if script is not None:
        return script_reason(script)
    return _statements_reason([_strip(words)])


def _shell_script(words: list[str]) -> str | None:
    """The script of `sh -c SCRIPT` (also -ec, -xc, -lc ...), or None when words is not a shell call."""
    if os.path.basename(words[0]) not in SHELLS:
        return None
    for index, word in enumerate(words[1:], start=1):
        if word.startswith("-") and not word.startswith("--") and "c" in word[1:]:
            return words[index + 1] if index + 1 < len(words) else ""
        if not word.startswith("-"):
            return None
    return None


def script_reason(script: str) -> str | None:
    try:
        lexer = shlex.shlex(script.replace("\n", " ; "), posix=True, punctuation_chars=";&|(){}")
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: look at the words anyway
        tokens = script.replace(";", " ; ").split()
    statements, current = [], []
    for token in tokens:
        if token in SEPARATORS:
            statements.append(current)
            current = []
        else:
            current.append(token)
    statements.append(current)
    return _statements_reason([_strip(s) for s in statements if _strip(s)])


def _strip(words: list[str]) -> list[str]:
    """The command itself: without `exec`, `nohup`, env assignments, and `do`/`then` keywords."""
    while words and (words[0] in PREFIXES or words[0] in ("do", "then", "else") or _ASSIGNMENT.match(words[0])):
        words = words[1:]
    return words


def _statements_reason(statements: list[list[str]]) -> str | None:
    words = [w for s in statements for w in s]
    for index, statement in enumerate(statements):
        nested = _shell_script(statement) if statement else None
        if nested is not None and (reason := script_reason(nested)):
            return reason
        if statement[:1] == ["sleep"] and any(w in FOREVER_WORDS for w in statement[1:]):
            return "`sleep infinity` never ends"
        if statement[:1] == ["tail"] and "/dev/null" in statement and any(w in ("-f", "-F", "--follow") for w in statement):
            return "`tail -f /dev/null` never ends"
        if statement[:1] in (["while"], ["until"]) and _endless(statement) and not {"break", "exit", "return"} & set(words):
            return f"`{' '.join(statement)}` loops forever"
    last = statements[-1] if statements else []
    if last[:1] == ["sleep"]:
        return f"the command ends in `{' '.join(last)}` (idle until the sleep ends)"
    return None


def _endless(statement: list[str]) -> bool:
    condition = statement[1:]
    return condition in ENDLESS_CONDITIONS if statement[0] == "while" else condition == ["false"]
