"""Does a container's command idle forever, or end idle? Exec-form argv and shell scripts, the scripts
parsed as a shell parses them (tree-sitter-bash: comments, continuations, lists, pipelines, subshells,
braces, loops, functions, here-documents), not split into words by hand.

Scripts are untrusted: their size, parse time and nesting are bounded (schemas/policy.yaml `scripts:`),
and a script that cannot be checked is said so (Verdict.unchecked), never a crash.
"""
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache, lru_cache

import tree_sitter
import tree_sitter_bash

from generator.core.schemas import policy

SHELLS = {"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh"}
SHELL_OPTIONS_WITH_VALUE = {"-o", "+o", "-O", "+O", "--rcfile", "--init-file"}
# Commands that run the rest of their arguments as a command; options (and these option values) skipped.
WRAPPERS = {"exec": (), "command": (), "builtin": (), "nohup": (), "time": (), "setsid": (), "busybox": (),
            "nice": ("-n",), "env": ("-u", "-C", "-S"), "stdbuf": (), "ionice": ("-c", "-n", "-t"),
            "tini": (), "dumb-init": (), "chrt": ()}
ALWAYS_TRUE = (["true"], [":"], ["/bin/true"], ["[", "1", "]"], ["[[", "1", "]]"], ["test", "1"])
ALWAYS_FALSE = (["false"], ["/bin/false"])
LEAVES_LOOP = {"break", "exit", "return", "exec"}
SLEEP_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SLEEP_ARG = re.compile(r"^(?P<num>(\d+\.?\d*|\.\d+)(e[+-]?\d+)?|inf|infinity)(?P<unit>[smhd]?)$", re.I)
_FOLLOW = re.compile(r"^(-[A-Za-z]*[fF][A-Za-z0-9]*|--follow(=.*)?)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


class Unchecked(Exception):
    """The script cannot be checked (too long, too slow, too deep): the reason."""


@dataclass(frozen=True)
class Verdict:
    idle: str | None = None        # why the command never ends or ends idle; None when it ends working
    unchecked: str | None = None   # why (part of) the script could not be checked


@dataclass(frozen=True)
class Flow:
    """What running a piece of shell does: never returns, ends in an idle command, or stops the shell."""
    forever: str | None = None
    idle_end: str | None = None
    exits: bool = False


@dataclass
class _Context:
    functions: dict = field(default_factory=dict)
    background_forever: str | None = None
    problems: list = field(default_factory=list)
    level: int = 0      # how deep the walk is now, across nested shells and wrappers (bounds recursion)


def _limits() -> dict:
    return policy()["scripts"]


def _forever_seconds() -> int:
    """A sleep at least this long outlives any pod NRP lets idle: treated as forever."""
    return policy()["workloads"]["interactive_pod"]["max_runtime_seconds"]


@lru_cache(maxsize=1024)
def _verdict(words: tuple, _numbers: tuple) -> Verdict:  # _numbers: the policy it was judged under
    context = _Context()
    try:
        flow = _command(list(words), context, depth=0)
    except Unchecked as exc:
        return Verdict(unchecked=str(exc))
    idle = flow.forever or (f"the command ends in `{flow.idle_end}` (idle until it ends)" if flow.idle_end else None)
    return Verdict(idle, "; ".join(context.problems) or None)


def verdict(command: list) -> Verdict:
    """What a container's command (command + args, exec form) does, as far as it can be known statically."""
    return _verdict(tuple(str(w) for w in command), (*_limits().values(), _forever_seconds()))


# --- exec form: one argv ------------------------------------------------------------------------------

def _unwrap(words: list) -> tuple[list, bool]:
    """The command a wrapper (`exec`, `nohup`, `env X=1`, `time -p`, ...) runs; whether it was exec'd.
    (A script's own `X=1 cmd` assignments are separate nodes of the parse, never words here.)"""
    exec_d = False
    while words and words[0] is not None and os.path.basename(words[0]) in WRAPPERS:
        name = os.path.basename(words.pop(0))
        exec_d = exec_d or name == "exec"
        while words and words[0] is not None and (words[0].startswith("-") or (name == "env" and _NAME.match(words[0]))):
            option = words.pop(0)
            if option in WRAPPERS[name] and words:
                words.pop(0)
            if option == "--":
                break
    return words, exec_d


def _command(words: list, context: _Context, depth: int) -> Flow:
    with _deeper(context):
        words, exec_d = _unwrap(list(words))
        flow = _simple(words, context, depth)
        return Flow(flow.forever, flow.idle_end, flow.exits or exec_d)


@contextmanager
def _deeper(context: _Context):
    """One level further into the command (`timeout timeout ...`, `( ( ... ) )`), within the bound."""
    context.level += 1
    try:
        if context.level > _limits()["max_tree_depth"]:
            raise Unchecked(f"the script nests deeper than {_limits()['max_tree_depth']} levels")
        yield
    finally:
        context.level -= 1


def _simple(words: list, context: _Context, depth: int) -> Flow:
    if not words or words[0] is None:
        return Flow()
    name, args = os.path.basename(words[0]), words[1:]
    if name in SHELLS:
        script = _shell_script(args)
        return _script(script, context, depth + 1) if script is not None else Flow()
    if name == "sleep":
        return _sleep(args)
    if name == "tail" and any(a is not None and _FOLLOW.match(a) for a in args):
        return Flow(forever="`tail -f` never ends")
    if name == "timeout":
        return _timeout(args, context, depth)
    if name == "wait" and context.background_forever:
        return Flow(forever=f"`wait` waits on a background command: {context.background_forever}")
    if name in ("exit", "return"):
        return Flow(exits=True)
    if name in context.functions:
        return context.functions[name]
    return Flow()


def _shell_script(args: list) -> str | None:
    """The SCRIPT of `sh [options] -c SCRIPT` (also -ec, -lc, -o pipefail -c ...); None when not -c."""
    index = 0
    while index < len(args) and args[index] is not None and args[index][:1] in ("-", "+"):
        option = args[index]
        if option in SHELL_OPTIONS_WITH_VALUE:
            index += 1
        elif not option.startswith("--") and "c" in option[1:]:
            return args[index + 1] if index + 1 < len(args) and args[index + 1] is not None else None
        index += 1
    return None


def _seconds(arg: str | None) -> float | None:
    match = _SLEEP_ARG.match(arg or "")
    if not match:
        return None
    number = float("inf") if match["num"].lower().startswith("inf") else float(match["num"])
    return number * SLEEP_UNITS[match["unit"].lower()]


def _sleep(args: list) -> Flow:
    shown = "sleep " + " ".join(a if a is not None else "$..." for a in args)
    durations = [_seconds(a) for a in args]
    if durations and None not in durations and sum(durations) == float("inf"):
        return Flow(forever=f"`{shown}` never ends")
    if durations and None not in durations and sum(durations) >= _forever_seconds():
        return Flow(forever=f"`{shown}` idles at least {_forever_seconds()} s, longer than NRP lets any pod idle")
    return Flow(idle_end=shown.strip())


def _timeout(args: list, context: _Context, depth: int) -> Flow:
    """`timeout [options] DURATION COMMAND`: the command, bounded (`timeout 0` bounds nothing)."""
    index = 0
    while index < len(args) and args[index] is not None and args[index].startswith("-"):
        index += 2 if args[index] in ("-s", "-k", "--signal", "--kill-after") else 1
    if index >= len(args):
        return Flow()
    limit = _seconds(args[index])
    inner = _command(args[index + 1:], context, depth)
    if limit == 0:
        return inner
    if inner.forever or inner.idle_end:
        return Flow(idle_end=f"timeout {args[index]} ...")
    return inner


# --- scripts: parsed with tree-sitter-bash ------------------------------------------------------------

TOO_SLOW = "took longer than"  # a verdict of the machine's load, not of the script: never cached (check_cache.py)


@cache
def _parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))


def _parse(script: bytes) -> tree_sitter.Tree:
    seconds = _limits()["max_parse_seconds"]
    deadline = time.monotonic() + seconds
    parser = _parser()
    try:
        tree = parser.parse(lambda offset, _point: script[offset:offset + 4096],
                            progress_callback=lambda *_: time.monotonic() > deadline)
    except ValueError:  # cancelled by the deadline
        tree = None
        parser.reset()
    if tree is None or time.monotonic() > deadline:
        raise Unchecked(f"the script {TOO_SLOW} {seconds} s to parse")
    return tree


def _script(script: str, context: _Context, depth: int) -> Flow:
    limits = _limits()
    if depth > limits["max_nesting"]:
        raise Unchecked(f"scripts nest more than {limits['max_nesting']} shells deep")
    data = script.encode()
    if len(data) > limits["max_bytes"]:
        raise Unchecked(f"the script is {len(data)} bytes, more than the {limits['max_bytes']} checked")
    if data.count(b"|") > limits["max_pipes"]:
        raise Unchecked(f"the script has {data.count(b'|')} `|`, more than the {limits['max_pipes']} checked")
    root = _parse(data).root_node
    if root.has_error:
        line = _first_error_line(root)
        context.problems.append(f"the script does not parse as a shell script near line {line}; only the rest was checked")
    return _Walker(context, depth).sequence(root.children)


def _first_error_line(node) -> int:
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type == "ERROR" or current.is_missing:
            return current.start_point[0] + 1
        stack.extend(reversed(current.children))
    return node.start_point[0] + 1


_SEQUENCES = {"program", "compound_statement", "subshell", "do_group", "else_clause", "elif_clause", "case_item"}
_SKIP = {"comment", "heredoc_body", "heredoc_start", "heredoc_end", "ERROR"}  # text, not commands that run


class _Walker:
    def __init__(self, context: _Context, depth: int):
        self.context, self.depth = context, depth

    def sequence(self, children) -> Flow:
        """Statements run one after the other; `&` puts the one before it in the background."""
        last = Flow()
        for index, node in enumerate(children):  # by index: tree-sitter's next_sibling walks the parent each time
            if not node.is_named or node.type in ("comment", "heredoc_body"):
                continue
            background = index + 1 < len(children) and children[index + 1].type == "&"
            flow = self.node(node)
            if background:
                self.context.background_forever = self.context.background_forever or flow.forever
                continue
            if flow.forever or flow.exits:
                return flow
            last = flow
        return Flow(idle_end=last.idle_end)

    def node(self, node) -> Flow:
        with _deeper(self.context):
            return self._node(node)

    def _node(self, node) -> Flow:
        kind = node.type
        if kind in _SEQUENCES:
            flow = self.sequence(node.children)
            return Flow(flow.forever, flow.idle_end, flow.exits and kind != "subshell")
        if kind == "command":
            return self.command(node)
        if kind in ("redirected_statement", "negated_command"):
            return self.node(node.named_children[0]) if node.named_children else Flow()
        if kind == "list":
            return self.either(node)
        if kind == "pipeline":
            flows = [self.node(c) for c in node.named_children]
            forever = next((f.forever for f in flows if f.forever), None)
            return Flow(forever, flows[-1].idle_end if flows else None)
        if kind in ("while_statement", "for_statement", "c_style_for_statement"):
            return self.loop(node)
        if kind in ("if_statement", "case_statement"):
            return self.branches(node)
        if kind == "function_definition":
            body = node.child_by_field_name("body")
            self.context.functions[_text(node.child_by_field_name("name"))] = self.node(body) if body else Flow()
            return Flow()
        return self.substitutions(node)

    def either(self, node) -> Flow:
        """`a && b`, `a || b`: b runs after a, on success or failure; what runs last is b."""
        left, right = node.named_children[0], node.named_children[-1]
        first = self.node(left)
        if first.forever or first.exits:
            return first
        second = self.node(right)
        return Flow(second.forever, second.idle_end)

    def branches(self, node) -> Flow:
        """if/elif/else, case: any branch may run; one that never ends, or ends idle, is enough."""
        if node.type == "if_statement":
            conditions = {c.id for i, c in enumerate(node.children) if node.field_name_for_child(i) == "condition"}
            test = self.sequence([c for c in node.children if c.id in conditions])
            if test.forever:
                return test
            then = [c for c in node.children if c.id not in conditions and c.type not in ("elif_clause", "else_clause")]
            flows = [self.sequence(then)] + [self.node(c) for c in node.named_children
                                                    if c.type in ("elif_clause", "else_clause")]
        else:
            flows = [self.node(c) for c in node.named_children]
        forever = next((f.forever for f in flows if f.forever), None)
        return Flow(forever, next((f.idle_end for f in flows if f.idle_end), None))

    def loop(self, node) -> Flow:
        body = node.child_by_field_name("body")
        inside = self.node(body) if body else Flow()
        if inside.forever:
            return Flow(forever=inside.forever)
        if self.endless(node) and not self.leaves(body):
            header = _text(node)[: (body.start_byte - node.start_byte) if body else None].strip().rstrip(";").strip()
            return Flow(forever=f"`{' '.join(header.split())}` loops forever")
        return Flow()

    def endless(self, node) -> bool:
        if node.type == "c_style_for_statement":
            return re.match(r"for\s*\(\(\s*[^;]*;\s*;", _text(node)) is not None
        if node.type != "while_statement":
            return False
        condition = [c for c in node.named_children if c.type not in ("do_group", "comment")]
        last = condition[-1] if condition else None
        if last is not None and last.type == "redirected_statement":  # `while true 2>/dev/null`: its command decides
            last = last.child_by_field_name("body")
        words = _text(last).split() if last is not None and last.type == "test_command" else (
            self.words(last) if last is not None and last.type == "command" else None)
        if not words or None in words:
            return False
        words, _ = _unwrap(words)
        if node.children[0].type == "until":
            return words in ALWAYS_FALSE
        return words in ALWAYS_TRUE or words[:1] == ["sleep"]

    def leaves(self, body) -> bool:
        """Does anything in the loop body break out of it or end the shell?"""
        stack = [body] if body else []
        while stack:
            current = stack.pop()
            if current.type == "command":
                words = self.words(current)
                if words and words[0] in LEAVES_LOOP:
                    return True
            stack.extend(current.named_children)
        return False

    def command(self, node) -> Flow:
        inner = self.substitutions(node)
        if inner.forever:
            return inner
        words = self.words(node)
        return _command(words, self.context, self.depth) if words else Flow()

    def substitutions(self, node) -> Flow:
        """$(...) and <(...) inside a word run before the command does."""
        for child in node.named_children:
            if child.type in ("command_substitution", "process_substitution"):
                flow = self.sequence(child.children)
                if flow.forever:
                    return Flow(forever=flow.forever)
            elif child.type not in _SKIP and child.type not in ("command", "heredoc_redirect"):
                flow = self.node(child)
                if flow.forever:
                    return flow
        return Flow()

    @staticmethod
    def words(node) -> list | None:
        """The argv of a simple command: each word's value, None where it depends on an expansion."""
        words = []
        for child in node.named_children:
            if child.type == "command_name":
                words.append(_value(child.named_children[0]) if child.named_children else None)
            elif child.type not in ("variable_assignment", "file_redirect", "herestring_redirect",
                                    "heredoc_redirect", "comment") and words:
                words.append(_value(child))
        return words or None


def _text(node) -> str:
    return node.text.decode(errors="replace") if node is not None else ""


def _value(node) -> str | None:
    """A word as the shell passes it on, quotes and escapes removed; None when it holds an expansion."""
    kind = node.type
    if kind in ("word", "number"):
        return re.sub(r"\\(.)", r"\1", _text(node))
    if kind == "raw_string":
        return _text(node)[1:-1]
    if kind == "string":
        parts = [c for c in node.named_children]
        if any(c.type != "string_content" for c in parts):
            return None
        return "".join(re.sub(r'\\([$`"\\\n])', r"\1", _text(c)) for c in parts)
    if kind == "concatenation":
        values = [_value(c) for c in node.named_children]
        return None if None in values else "".join(values)
    return None
